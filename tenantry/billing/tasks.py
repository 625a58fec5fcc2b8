"""Billing jobs: the renewal run, dunning, add-on expiry (periodic), invoice PDFs + emails."""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

# Huey discovers only modules named `tasks`: this registers the payment reconciliation job too.
from tenantry.billing import payment_tasks  # noqa: F401
from tenantry.core.schedule import local_crontab


@db_periodic_task(crontab(minute="10"))
def billing_run_task() -> None:
    """Hourly: periods end at the customers' local midnights, spread over the day."""
    from tenantry.billing.services import billing_run

    billing_run()


@db_periodic_task(crontab(minute="*/15"))
def dunning_task() -> None:
    from tenantry.billing.services import dunning_advance

    dunning_advance()


@db_periodic_task(local_crontab("ADDONS_AT"))
def addons_expire_task() -> None:
    """05:00 on the operator's clock, as in the pricing seed (settings.TENANTRY_NIGHTLY)."""
    from tenantry.billing.services import addons_expire

    addons_expire()


@db_task(retries=3, retry_delay=30)
def invoice_issued_task(invoice_id: str) -> None:
    from tenantry.billing.pdf import send_invoice

    send_invoice(invoice_id)


@db_task(retries=3, retry_delay=30)
def invoices_issued_task(invoice_ids: list[str]) -> None:
    from tenantry.billing.pdf import send_invoice

    for invoice_id in invoice_ids:
        send_invoice(invoice_id)


@db_task(retries=3, retry_delay=30)
def billing_email_task(recipients: list[str], template: str, account_id: str, invoice_id: str | None,
                       extra: dict[str, Any]) -> None:
    from tenantry.billing.pdf import send_billing_email

    send_billing_email(recipients=recipients, template=template, account_id=account_id, invoice_id=invoice_id,
                       extra=extra)
