"""Usage reports (pure reads, scoped to a team): per instance and per team, used / included, the
daily series for the charts, the current period's projected overage, and the CSV export.

Days are the team's calendar days (its time zone). A day's value for a quota: what was used that
day for summed meters (traffic, executions: the days add up to the period's use), the day's
highest reading for gauges (storage).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Count, Max, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance
from tenantry.metering.meters import builtin_meters
from tenantry.metering.models import Aggregation, UsageEvent
from tenantry.metering.quotas import QUOTAS, Policy, QuotaStatus
from tenantry.metering.services.quotas import InstanceQuotas, _subscription, team_quotas

_ADDITIVE = (Aggregation.SUM, Aggregation.COUNT)


@dataclass(frozen=True)
class DayValue:
    day: date
    value: Decimal


@dataclass(frozen=True)
class QuotaReport:
    status: QuotaStatus
    daily: list[DayValue]
    projected_used: Decimal
    projected_over_units: int
    projected_overage_minor: int  # only for bill_overage limits; 0 otherwise

    @property
    def code(self) -> str:
        return self.status.code


@dataclass(frozen=True)
class InstanceReport:
    instance: Instance
    quotas: list[QuotaReport]


@dataclass(frozen=True)
class TeamTotal:
    code: str
    label: str
    unit: str
    used: Decimal
    included: Decimal
    projected_overage_minor: int

    @property
    def percent(self) -> int:
        if self.included <= 0:
            return 100 if self.used > 0 else 0
        return int(self.used * 100 / self.included)

    @property
    def bar_percent(self) -> int:
        return min(self.percent, 100)


@dataclass(frozen=True)
class TeamReport:
    instances: list[InstanceReport]
    totals: list[TeamTotal]
    currency: str
    projected_overage_minor: int
    period_start: datetime | None
    period_end: datetime | None
    days: list[date]


def _days(start: datetime, end: datetime, now: datetime, tz: ZoneInfo) -> list[date]:
    first = start.astimezone(tz).date()
    last = (min(now, end) - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def daily_series(instance: Instance, status: QuotaStatus, days: list[date], tz: ZoneInfo) -> list[DayValue]:
    """One value per day in `days` (zero when nothing was measured that day)."""
    kind = QUOTAS[status.code]
    meters = builtin_meters()
    per_day: dict[date, Decimal] = dict.fromkeys(days, Decimal(0))
    for code in kind.meters:
        meter = meters[code]
        events = UsageEvent.objects.filter(team_id=instance.team_id, instance=instance, meter=meter,
                                           timestamp__gte=status.period_start, timestamp__lt=status.period_end)
        value: Aggregate
        if meter.aggregation == Aggregation.COUNT:
            value = Count("id")
        elif meter.aggregation == Aggregation.SUM:
            value = Sum("value")
        else:
            value = Max("value")
        rows = events.annotate(day=TruncDate("timestamp", tzinfo=tz)).values("day").annotate(v=value) \
            .values_list("day", "v")
        for day, amount in rows:
            if day in per_day:
                per_day[day] += Decimal(amount or 0)
    return [DayValue(day, (value / kind.divisor)) for day, value in per_day.items()]


def _projection(instance: Instance, status: QuotaStatus, now: datetime) -> tuple[Decimal, int, int]:
    """Projected use at the period's end (the pace so far, for summed meters; gauges stay as they
    are), the units above the included amount and, for bill_overage, what they would cost."""
    meters = builtin_meters()
    additive = all(meters[c].aggregation in _ADDITIVE for c in QUOTAS[status.code].meters)
    elapsed = (min(now, status.period_end) - status.period_start).total_seconds()
    total = (status.period_end - status.period_start).total_seconds()
    projected = status.used
    if additive and elapsed >= 3600 and total > elapsed:  # an hour's pace says little about a month
        projected = (status.used * Decimal(total) / Decimal(elapsed)).quantize(Decimal("0.000001"))
    over = projected - status.included
    units = int(over.to_integral_value(rounding=ROUND_CEILING)) if over > 0 else 0
    amount = units * (status.unit_price_minor or 0) if status.policy == Policy.BILL_OVERAGE else 0
    return projected, units, amount


def _report(entry: InstanceQuotas, days: list[date], tz: ZoneInfo, now: datetime) -> InstanceReport:
    quotas = []
    for status in entry.quotas:
        projected, units, amount = _projection(entry.instance, status, now)
        quotas.append(QuotaReport(status=status, daily=daily_series(entry.instance, status, days, tz),
                                  projected_used=projected, projected_over_units=units,
                                  projected_overage_minor=amount))
    return InstanceReport(instance=entry.instance, quotas=quotas)


def team_report(*, team: Team, instance: Instance | None = None, now: datetime | None = None) -> TeamReport:
    """The team's usage this period (or one of its instances'); empty without a live plan."""
    now = now or timezone.now()
    subscription = _subscription(team)
    if instance is not None and instance.team_id != team.pk:
        instance = None
        entries: list[InstanceQuotas] = []
    else:
        entries = team_quotas(team, instances=[instance] if instance is not None else None)
    tz = ZoneInfo(team.time_zone)
    statuses = [q for e in entries for q in e.quotas]
    start = statuses[0].period_start if statuses else None
    end = statuses[0].period_end if statuses else None
    days = _days(start, end, now, tz) if start and end else []
    reports = [_report(entry, days, tz, now) for entry in entries]
    totals: dict[str, TeamTotal] = {}
    for report in reports:
        for q in report.quotas:
            was = totals.get(q.code)
            totals[q.code] = TeamTotal(
                code=q.code, label=q.status.label, unit=q.status.unit,
                used=(was.used if was else Decimal(0)) + q.status.used,
                included=(was.included if was else Decimal(0)) + q.status.included,
                projected_overage_minor=(was.projected_overage_minor if was else 0) + q.projected_overage_minor)
    return TeamReport(instances=reports, totals=list(totals.values()),
                      currency=subscription.plan.currency if subscription else "EUR",
                      projected_overage_minor=sum(t.projected_overage_minor for t in totals.values()),
                      period_start=start, period_end=end, days=days)


def usage_csv(report: TeamReport) -> str:
    """One row per instance, limit and day; then the period's totals per instance and limit."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "instance", "app", "limit", "unit", "used", "included", "projected_overage_minor",
                     "currency"])
    for item in report.instances:
        for q in item.quotas:
            for point in q.daily:
                writer.writerow([point.day.isoformat(), item.instance.slug, item.instance.app, q.code, q.status.unit,
                                 f"{point.value.normalize():f}", "", "", ""])
            period = f"{q.status.period_start:%Y-%m-%d}/{q.status.period_end:%Y-%m-%d}"
            writer.writerow([period, item.instance.slug, item.instance.app, q.code, q.status.unit,
                             f"{q.status.used.normalize():f}", f"{q.status.included.normalize():f}",
                             q.projected_overage_minor, report.currency])
    return out.getvalue()
