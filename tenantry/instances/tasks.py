"""Queue tasks: operations, the reconciler and hibernation (Huey: SQLite or Redis)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, on_startup


@db_task(retries=0)
def run_operation_task(operation_id: str) -> str | None:
    from tenantry.instances.engine import run_operation

    return run_operation(operation_id)


@db_periodic_task(crontab(minute="*"))
def reconcile_task() -> None:
    from tenantry.instances.reconciler import reconcile

    reconcile()


@db_periodic_task(crontab(minute="*"))
def hibernate_idle_task() -> None:
    from tenantry.instances.hibernation import collect_proxy_activity, hibernate_idle_instances

    collect_proxy_activity()
    hibernate_idle_instances()


@db_task()
def resume_stale_operations_task() -> list[str]:
    from tenantry.instances.engine import resume_stale_operations

    return resume_stale_operations()


@on_startup()
def _resume_after_restart() -> None:
    """A worker that starts picks up what a killed worker left, once its lease has run out."""
    from django.conf import settings

    if not HUEY.immediate:
        resume_stale_operations_task.schedule(delay=settings.TENANTRY["OPERATION_LEASE_SECONDS"] + 1)
