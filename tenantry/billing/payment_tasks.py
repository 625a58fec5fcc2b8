"""Periodic payment jobs. Registered with the worker by tenantry/billing/tasks.py importing this module."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*/5"))
def payments_reconcile_task() -> None:
    """Every 5 minutes: settle open payments whose callback was lost, give up on abandoned ones."""
    from tenantry.billing.services.payments import payments_reconcile

    payments_reconcile()
