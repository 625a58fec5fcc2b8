from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=3, retry_delay=30)
def backup_failure_task(operation_id: str, reason: str, rolled_back: bool | None) -> None:
    from tenantry.backups.notify import notify_backup_failure

    notify_backup_failure(operation_id, reason, rolled_back)


@db_periodic_task(crontab(minute="*/15"))
def backups_schedule_task() -> None:
    """Scheduled backups that are due (per plan), then pruning by the plans' retention."""
    from tenantry.backups.schedule import backups_prune, backups_schedule

    backups_schedule()
    backups_prune()
