"""A meter's aggregation over a time range, from its raw events (pure reads)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, QuerySet, Sum

from tenantry.metering.models import Aggregation, Meter, UsageEvent


def aggregate(meter: Meter, events: QuerySet[UsageEvent], start: datetime, end: datetime) -> Decimal:
    """The meter's value over [start, end) for the given events (already filtered by team,
    instance, meter). Time-weighted: the value in force at `start` (the last event before it)
    counts from `start`; each value holds until the next event, the last one until `end`."""
    in_range = events.filter(timestamp__gte=start, timestamp__lt=end)
    kind = meter.aggregation
    if kind == Aggregation.COUNT:
        return Decimal(in_range.count())
    if kind == Aggregation.SUM:
        return in_range.aggregate(total=Sum("value"))["total"] or Decimal(0)
    if kind == Aggregation.MAX:
        return in_range.aggregate(top=Max("value"))["top"] or Decimal(0)
    if kind == Aggregation.LATEST:
        latest = in_range.order_by("-timestamp", "-id").values_list("value", flat=True).first()
        return latest if latest is not None else Decimal(0)
    if kind == Aggregation.UNIQUE:
        return Decimal(in_range.aggregate(n=Count("key", distinct=True))["n"])
    return _time_weighted(events, start, end)


def _time_weighted(events: QuerySet[UsageEvent], start: datetime, end: datetime) -> Decimal:
    before = events.filter(timestamp__lt=start).order_by("-timestamp", "-id").values_list("value", flat=True).first()
    points = list(events.filter(timestamp__gte=start, timestamp__lt=end).order_by("timestamp", "id")
                  .values_list("timestamp", "value"))
    span = Decimal((end - start).total_seconds())
    if span <= 0:
        return Decimal(0)
    total = Decimal(0)
    current, since = before, start
    for at, value in points:
        if current is not None:
            total += current * Decimal((at - since).total_seconds())
        current, since = value, at
    if current is not None:
        total += current * Decimal((end - since).total_seconds())
    return (total / span).quantize(Decimal("0.000001"))
