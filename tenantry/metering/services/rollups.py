"""Hourly and daily rollups, recomputed from the events of the bucket (idempotent: rolling up
the same hour twice rewrites the same rows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from tenantry.metering.aggregation import aggregate
from tenantry.metering.models import Granularity, Meter, UsageEvent, UsageRollup


def _rollup(start: datetime, end: datetime, granularity: str) -> int:
    streams = (UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end)
               .values_list("team_id", "instance_id", "meter_id").distinct())
    meters = {m.pk: m for m in Meter.objects.all()}
    written = 0
    for team_id, instance_id, meter_id in streams:
        events = UsageEvent.objects.filter(team_id=team_id, instance_id=instance_id, meter_id=meter_id)
        value = aggregate(meters[meter_id], events, start, end)
        count = events.filter(timestamp__gte=start, timestamp__lt=end).count()
        with transaction.atomic():
            UsageRollup.objects.update_or_create(team_id=team_id, instance_id=instance_id, meter_id=meter_id,
                                                 granularity=granularity, bucket_start=start,
                                                 defaults={"value": value, "events": count})
        written += 1
    return written


def rollup_hour(at: datetime) -> int:
    start = at.replace(minute=0, second=0, microsecond=0)
    return _rollup(start, start + timedelta(hours=1), Granularity.HOUR)


def rollup_day(at: datetime) -> int:
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return _rollup(start, start + timedelta(days=1), Granularity.DAY)
