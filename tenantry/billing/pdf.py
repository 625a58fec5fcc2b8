"""Invoice PDFs (WeasyPrint, from templates/billing/invoice.html) and billing emails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from tenantry.billing.conf import billing_setting
from tenantry.billing.models import BillingAccount, Invoice
from tenantry.billing.money import format_money
from tenantry.billing.services.accounts import billing_recipients
from tenantry.core.logging import get_logger

log = get_logger(__name__)


def seller_identity() -> tuple[dict[str, str], Any]:
    """The seller block and the brand: TENANTRY_SELLER_* where set, else the operator's brand."""
    from tenantry.branding.selectors import current_brand

    brand = current_brand()
    seller = dict(billing_setting("SELLER"))
    seller["name"] = seller.get("name") or brand.name
    seller["email"] = seller.get("email") or brand.support_email
    return seller, brand


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    money = lambda amount: format_money(amount, invoice.currency)  # noqa: E731
    seller, brand = seller_identity()
    return {
        "invoice": invoice,
        "seller": seller,
        "brand": brand,
        # Inline: rendering a PDF fetches nothing (an external logo URL is not drawn on invoices).
        "logo": brand.logo_data_uri(),
        "buyer": invoice.buyer,
        "lines": [{"line": line, "unit": money(line.unit_amount_minor), "amount": money(line.amount_minor)}
                  for line in invoice.lines.all()],
        "subtotal": money(invoice.subtotal_minor),
        "tax": money(invoice.tax_minor),
        "total": money(invoice.total_minor),
    }


def render_invoice_pdf(invoice: Invoice) -> bytes:
    from weasyprint import HTML

    html = render_to_string("billing/invoice.html", invoice_context(invoice))
    return HTML(string=html).write_pdf()


def invoice_pdf_path(invoice: Invoice) -> Path:
    issued = invoice.issued_at or timezone.now()
    return Path(settings.DATA_DIR) / "invoices" / f"{issued:%Y}" / f"{invoice.display_number}.pdf"


def ensure_invoice_pdf(invoice: Invoice) -> Path:
    """The stored PDF of an issued invoice, rendered once (an issued invoice never changes)."""
    if invoice.number is None:
        raise ValueError("a draft has no PDF")
    path = invoice_pdf_path(invoice)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(render_invoice_pdf(invoice))
        os.replace(partial, path)
    if invoice.pdf_path != str(path):
        Invoice.objects.filter(pk=invoice.pk).update(pdf_path=str(path))
        invoice.pdf_path = str(path)
    return path


def send_invoice(invoice_id: str) -> None:
    """Render and store the PDF, then email it to the billing contacts (once)."""
    from tenantry.notifications.email import send_templated_email

    invoice = Invoice.objects.select_related("account__team").get(pk=invoice_id)
    path = ensure_invoice_pdf(invoice)
    if invoice.emailed_at is not None:
        return
    context = {**invoice_context(invoice), "dashboard_url": settings.TENANTRY["DASHBOARD_URL"]}
    for to in billing_recipients(invoice.account):
        send_templated_email(to=to, template="billing_invoice", context=context,
                             attachments=[(path.name, path.read_bytes(), "application/pdf")])
    with transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())


def send_billing_email(*, recipients: list[str], template: str, account_id: str, invoice_id: str | None,
                       extra: dict[str, Any]) -> None:
    from tenantry.notifications.email import send_templated_email

    account = BillingAccount.objects.select_related("team").get(pk=account_id)
    context: dict[str, Any] = {"account": account, "team": account.team, **extra,
                               "dashboard_url": settings.TENANTRY["DASHBOARD_URL"]}
    if invoice_id:
        invoice = Invoice.objects.get(pk=invoice_id)
        context.update(invoice=invoice, total=format_money(invoice.total_minor, invoice.currency))
    for to in recipients:
        send_templated_email(to=to, template=template, context=context)
    log.info("billing.email", template=template, account=account_id)
