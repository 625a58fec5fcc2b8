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


@db_task()
def drill_task(drill_id: str) -> None:
    from tenantry.backups.drills import drill_run

    drill_run(drill_id)


@db_task(retries=3, retry_delay=30)
def drill_alert_task(drill_id: str) -> None:
    from tenantry.backups.notify import notify_drill_failure

    notify_drill_failure(drill_id)


@db_periodic_task(crontab(hour="3", minute="30"))
def drills_schedule_task() -> None:
    """Restore drills that are due (per plan): each runs as its own task."""
    from tenantry.backups.drills import drills_schedule

    drills_schedule()
