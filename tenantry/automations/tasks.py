"""Copy executions from every running automation app each minute, so history and the monthly
count are current even when nobody looks."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def sync_executions_task() -> int:
    from tenantry.automations.services import sync_all_executions

    return sync_all_executions()
