from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=0)
def deliver_endpoint_task(endpoint_id: str) -> None:
    from tenantry.webhooks.delivery import deliver_endpoint

    come_back = deliver_endpoint(endpoint_id)
    if come_back is not None:
        deliver_endpoint_task.schedule((endpoint_id,), eta=come_back)


@db_periodic_task(crontab(minute="*"))
def webhooks_sweep() -> None:
    """Due deliveries whose scheduled task was lost (a worker killed mid-way) are sent again."""
    from tenantry.webhooks.delivery import due_endpoints

    for endpoint_id in due_endpoints():
        deliver_endpoint_task(endpoint_id)
