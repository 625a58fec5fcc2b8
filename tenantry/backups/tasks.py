from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=30)
def backup_failure_task(operation_id: str, reason: str, rolled_back: bool | None) -> None:
    from tenantry.backups.notify import notify_backup_failure

    notify_backup_failure(operation_id, reason, rolled_back)
