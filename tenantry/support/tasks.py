from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=3, retry_delay=30)
def staff_email_task(message_id: str) -> None:
    from tenantry.support.mail import send_staff_email

    send_staff_email(message_id)


@db_task(retries=3, retry_delay=60)
def sla_alert_task(ticket_ids: list[str]) -> None:
    from tenantry.support.mail import send_sla_alert

    send_sla_alert(ticket_ids)


@db_periodic_task(crontab(minute="*/5"))
def support_sla_sweep() -> None:
    """Tickets past their plan's first-response or resolution time: flagged, operators alerted."""
    from tenantry.support.services import sla_sweep

    sla_sweep()
