"""The nightly jobs of tenantry/ops/nightly.py at their local times (settings.TENANTRY_NIGHTLY).
04:00 storage and 05:00 add-on expiry are scheduled next to their code (metering, billing)."""

from __future__ import annotations

from huey.contrib.djhuey import db_periodic_task

from tenantry.core.schedule import local_crontab


@db_periodic_task(local_crontab("HIBERNATE_AT"))
def nightly_hibernate_task() -> list[str]:
    from tenantry.ops.nightly import hibernate_long_idle

    return hibernate_long_idle()


@db_periodic_task(local_crontab("CLEANUP_AT"))
def nightly_cleanup_task() -> dict[str, int]:
    from tenantry.ops.nightly import cleanup

    return cleanup()


@db_periodic_task(local_crontab("LIMITS_AT"))
def nightly_limits_task() -> int:
    from tenantry.ops.nightly import limit_checks

    return limit_checks()
