"""Metering's periodic work: collectors, rollups, quota checks; and the messages they send."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tenantry.core.schedule import local_crontab


@db_periodic_task(crontab(minute="*"))
def collect_traffic_task() -> int:
    from tenantry.metering.collectors.traffic import collect_traffic

    return collect_traffic().events


@db_periodic_task(crontab(minute="*"))
def collect_resources_task() -> int:
    from tenantry.metering.collectors.resources import collect_resources

    return collect_resources().events


@db_periodic_task(crontab(minute="*"))
def collect_executions_task() -> int:
    from tenantry.metering.collectors.executions import collect_executions

    return collect_executions().events


@db_periodic_task(local_crontab("STORAGE_AT"))
def collect_storage_task() -> int:
    """04:00 on the operator's clock (settings.TENANTRY_NIGHTLY)."""
    from tenantry.metering.collectors.storage import collect_storage

    return collect_storage().events


@db_task()
def collect_storage_now_task(instance_ids: list[str] | None = None) -> int:
    """On demand (an operator, or a customer asking for a fresh figure)."""
    from tenantry.metering.collectors.storage import collect_storage

    return collect_storage(instance_ids=instance_ids).events


@db_periodic_task(crontab(minute="5"))
def rollup_task() -> int:
    """The hour that just ended and the current one; the day that just ended once past midnight."""
    from django.utils import timezone

    from tenantry.metering.services.rollups import rollup_day, rollup_hour

    now = timezone.now()
    done = rollup_hour(now - timedelta(hours=1)) + rollup_hour(now)
    if now.hour == 0:
        done += rollup_day(now - timedelta(days=1))
    return done + rollup_day(now)


@db_periodic_task(crontab(minute="*/15"))
def quota_check_task() -> int:
    """Policies (throttle, suspend, lifts) follow usage within 15 minutes; the nightly 06:00
    limit check (tenantry.ops.tasks) is the seed's, with the day's collections done."""
    from tenantry.metering.services.quotas import quota_check_all

    return quota_check_all()


@db_task()
def quota_check_team_task(team_id: str) -> int:
    """One team's quotas again, at once (its limits just changed)."""
    from tenantry.accounts.models import Team
    from tenantry.metering.services.quotas import quota_check_team

    team = Team.objects.filter(pk=team_id).first()
    return len(quota_check_team(team=team)) if team is not None else 0


@db_task()
def quota_alert_email_task(alert_id: str) -> None:
    from tenantry.metering.notify import notify_quota_alert

    notify_quota_alert(alert_id)


@db_task()
def quota_enforcement_email_task(enforcement_id: str, what: str) -> None:
    from tenantry.metering.notify import notify_quota_enforcement

    notify_quota_enforcement(enforcement_id, what)


@db_task()
def workflow_limits_email_task(instance_id: str, data: dict) -> None:
    from tenantry.metering.notify import notify_workflow_limits

    notify_workflow_limits(instance_id, data)


@db_task()
def collector_gap_alert_task(gap_id: str) -> None:
    from tenantry.metering.notify import notify_collector_gap

    notify_collector_gap(gap_id)
