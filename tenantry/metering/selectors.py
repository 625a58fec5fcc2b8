"""Usage reads, always scoped to a team."""

from __future__ import annotations

from datetime import datetime

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance
from tenantry.metering.models import QuotaAlert, QuotaEnforcement
from tenantry.metering.services.quotas import InstanceQuotas, team_quotas


def instance_usage(*, team: Team, instance: Instance) -> InstanceQuotas | None:
    if instance.team_id != team.pk:
        return None
    found = team_quotas(team, instances=[instance])
    return found[0] if found else None


def team_usage(*, team: Team) -> list[InstanceQuotas]:
    return team_quotas(team)


def banner_alerts(*, team: Team, now: datetime) -> list[QuotaAlert]:
    """The highest threshold reached per instance and quota in the current period (the banner)."""
    alerts = (QuotaAlert.objects.filter(team=team, period_start__lte=now, period_end__gt=now,
                                        instance__team=team).select_related("instance")
              .order_by("instance__slug", "quota", "-threshold"))
    top: dict[tuple[str, str], QuotaAlert] = {}
    for alert in alerts:
        top.setdefault((str(alert.instance_id), alert.quota), alert)
    # What a throttle / suspend policy did (or will do), for the banner to say.
    enforcements = {(str(e.instance_id), e.quota): e for e in QuotaEnforcement.objects.filter(
        team=team, lifted_at__isnull=True, period_start__lte=now, period_end__gt=now)}
    for key, alert in top.items():
        alert.enforcement = enforcements.get(key)  # type: ignore[attr-defined]
    return list(top.values())
