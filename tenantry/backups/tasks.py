from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tenantry.core.schedule import local_crontab


@db_task(retries=3, retry_delay=30)
def backup_failure_task(operation_id: str, reason: str, rolled_back: bool | None) -> None:
    from tenantry.backups.notify import notify_backup_failure

    notify_backup_failure(operation_id, reason, rolled_back)


# --- the control plane's own backup (tenantry/backups/control_plane.py) ---------------------------
def _control_backup_schedule():
    from django.conf import settings
    from huey import crontab

    minute, hour, day, month, weekday = settings.TENANTRY["CONTROL_BACKUP_CRON"].split()
    return crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday)


@db_periodic_task(_control_backup_schedule(), retries=2, retry_delay=300)
def control_plane_backup_task() -> str | None:
    from django.conf import settings

    from tenantry.backups.control_plane import control_plane_backup
    from tenantry.core.logging import get_logger

    log = get_logger(__name__)
    if not settings.TENANTRY["CONTROL_BACKUP_KEY"]:
        log.warning("control_backup.not_configured", hint="set TENANTRY_CONTROL_BACKUP_KEY")
        return None
    try:
        backup = control_plane_backup()
    except Exception:
        log.exception("control_backup.failed")  # loud: an error log line, the task retried
        raise
    log.info("control_backup.done", key=backup.key, size=backup.size)
    return backup.key


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


@db_periodic_task(local_crontab("DRILLS_AT"))
def drills_schedule_task() -> None:
    """Restore drills that are due (per plan): each runs as its own task."""
    from tenantry.backups.drills import drills_schedule

    drills_schedule()
