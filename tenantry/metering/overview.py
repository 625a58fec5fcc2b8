"""The operator's view of usage across every team (operators only; never shown to a team): top
consumers per limit, teams over a limit, and usage by app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.instances.models import Instance
from tenantry.metering.meters import builtin_meters
from tenantry.metering.models import Aggregation, UsageEvent
from tenantry.metering.quotas import GB, QuotaStatus
from tenantry.metering.services.quotas import team_quotas

TOP = 10
BY_APP_DAYS = 30


@dataclass(frozen=True)
class Consumer:
    team: Team
    instance: Instance
    status: QuotaStatus


@dataclass(frozen=True)
class AppUsage:
    app: str
    meter: str
    unit: str
    total: Decimal
    instances: int


@dataclass(frozen=True)
class OperatorUsage:
    top: dict[str, list[Consumer]]  # limit code -> the highest users of it, by share of what is included
    over: list[Consumer]  # every instance at or past 100 % of a limit, by team
    by_app: list[AppUsage]
    since: datetime


def operator_usage_overview(now: datetime | None = None) -> OperatorUsage:
    now = now or timezone.now()
    consumers: list[Consumer] = []
    for team in Team.objects.filter(subscriptions__status__in=LIVE_SUBSCRIPTION_STATUSES).distinct().order_by("name"):
        for entry in team_quotas(team):
            consumers += [Consumer(team=team, instance=entry.instance, status=s) for s in entry.quotas]
    top: dict[str, list[Consumer]] = {}
    for consumer in sorted(consumers, key=lambda c: (-c.status.percent, -c.status.used, c.instance.slug)):
        ranked = top.setdefault(consumer.status.code, [])
        if len(ranked) < TOP and consumer.status.used > 0:
            ranked.append(consumer)
    over = sorted((c for c in consumers if c.status.percent >= 100),
                  key=lambda c: (c.team.name, c.instance.slug, c.status.code))
    since = now - timedelta(days=BY_APP_DAYS)
    meters = {m.pk: m for m in builtin_meters().values()}
    rows = (UsageEvent.objects.filter(timestamp__gte=since, timestamp__lt=now, instance__isnull=False,
                                      meter_id__in=list(meters))
            .values_list("instance__app", "meter_id")
            .annotate(total=Sum("value"), events=Count("id"), instances=Count("instance_id", distinct=True))
            .order_by("instance__app", "meter_id"))
    by_app = []
    for app, meter_id, total, events, instances in rows:
        meter = meters[meter_id]
        if meter.aggregation not in (Aggregation.SUM, Aggregation.COUNT):
            continue  # a gauge (storage, memory) does not add up over a month
        amount = Decimal(events) if meter.aggregation == Aggregation.COUNT else Decimal(total or 0)
        unit = meter.unit
        if unit == "bytes":  # shown like the quotas: GB of 10^9 bytes
            amount, unit = amount / GB, "GB"
        by_app.append(AppUsage(app=app, meter=meter.name, unit=unit, total=amount, instances=instances))
    return OperatorUsage(top=top, over=over, by_app=by_app, since=since)
