from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=5, retry_delay=5)
def dispatch_events_task() -> int:
    from tenantry.events.dispatch import dispatch_pending_events

    return dispatch_pending_events()


@db_periodic_task(crontab(minute="*"))
def dispatch_events_sweep() -> int:
    """Events whose dispatch task was lost (a worker killed mid-way) go out within a minute."""
    from tenantry.events.dispatch import dispatch_pending_events

    return dispatch_pending_events()
