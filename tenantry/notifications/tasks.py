from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=30)
def provisioning_failed_task(subscription_id: str) -> None:
    from tenantry.notifications.services import notify_provisioning_failed

    notify_provisioning_failed(subscription_id)


@db_task(retries=3, retry_delay=30)
def event_email_task(user_id: int, event_id: int) -> None:
    from tenantry.notifications.services import send_event_email

    send_event_email(user_id=user_id, event_id=event_id)


@db_task(retries=5, retry_delay=60)
def operator_alert_event_task(event_id: int) -> None:
    from tenantry.notifications.services import send_operator_alert_for_event

    send_operator_alert_for_event(event_id=event_id)
