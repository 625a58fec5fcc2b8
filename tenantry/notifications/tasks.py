from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=30)
def instance_ready_task(instance_id: str) -> None:
    from tenantry.notifications.services import notify_instance_ready

    notify_instance_ready(instance_id)


@db_task(retries=3, retry_delay=30)
def provisioning_failed_task(subscription_id: str) -> None:
    from tenantry.notifications.services import notify_provisioning_failed

    notify_provisioning_failed(subscription_id)
