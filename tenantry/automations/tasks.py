"""Copy executions from every running automation app each minute, so history and the monthly
count are current even when nobody looks."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def sync_executions_task() -> int:
    from tenantry.automations.services import sync_all_executions

    return sync_all_executions()


@db_periodic_task(crontab(minute="*"))
def wake_for_schedules_task() -> list[str]:
    """Wake hibernated instances ahead of their scheduled workflows."""
    from tenantry.automations.scheduling import wake_for_schedules

    return wake_for_schedules()


@db_periodic_task(crontab(minute="*/10"))
def sync_schedules_task() -> int:
    """Refresh the stored time triggers of running automation apps (they are read again just
    before an instance hibernates, too)."""
    from tenantry.automations.scheduling import sync_all_schedules

    return sync_all_schedules()
