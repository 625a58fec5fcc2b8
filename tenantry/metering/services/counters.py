"""Monotonic counters read by collectors become usage deltas, exactly once.

A counter source keeps the last raw value read. The delta since then is written as a usage
event in the same transaction that moves `last_raw`, with the source row locked: a collector
that crashes or runs twice at once either wrote both or neither. A reset (the proxy restarted,
the container was recreated) shows as a new `epoch` or a value lower than the last one; the
counter then restarted from zero, so the whole new value is the delta. What was counted after
the last read and before the reset is lost: collect often (every minute).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from tenantry.core.audit import audit_log
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance
from tenantry.metering.models import CollectorGap, CounterSource, Meter
from tenantry.metering.services.ingest import usage_record

log = get_logger(__name__)


@transaction.atomic
def counter_observe(*, source: str, instance: Instance, meter: Meter, raw: Decimal, epoch: str = "",
                    at: datetime | None = None) -> Decimal:
    """Record a raw counter reading; returns the delta written as usage (0: nothing new). The
    first reading of a source counts its whole value: the counter started with the route or the
    container, which Tenantry created."""
    at = at or timezone.now()
    row = CounterSource.objects.select_for_update().filter(source=source).first()
    if row is None:
        CounterSource.objects.create(source=source, instance=instance, meter=meter, epoch=epoch, last_raw=raw,
                                     last_read_at=at)
        delta = raw
    else:
        reset = (epoch != row.epoch) or raw < row.last_raw
        delta = raw if reset else raw - row.last_raw
        row.last_raw, row.epoch, row.last_read_at = raw, epoch, at
        row.resets += int(reset)
        row.save(update_fields=["last_raw", "epoch", "last_read_at", "resets", "updated_at"])
        if reset:
            log.info("metering.counter_reset", source=source, epoch=epoch)
    if delta > 0:
        usage_record(instance=instance, meter=meter, value=delta, timestamp=at,
                     transaction_id=f"c:{uuid.uuid4().hex}")
    return delta


@transaction.atomic
def gap_open(*, collector: str, instance: Instance | None, error: str) -> CollectorGap:
    """The collector could not read its source: remember the gap (nothing is written as usage for
    it, not a zero) and audit + alert the operators the first time."""
    gap = CollectorGap.objects.select_for_update().filter(collector=collector, instance=instance,
                                                          ended_at__isnull=True).first()
    if gap is not None:
        gap.attempts += 1
        gap.error = error[:2000]
        gap.save(update_fields=["attempts", "error", "updated_at"])
        return gap
    gap = CollectorGap.objects.create(collector=collector, instance=instance, started_at=timezone.now(),
                                      error=error[:2000])
    audit_log(actor=f"collector:{collector}", action="metering.collector_gap", target=gap,
              data={"collector": collector, "instance": str(instance.pk) if instance else None, "error": error[:500]})
    log.error("metering.collector_gap", collector=collector, instance=str(instance.pk) if instance else None,
              error=error[:500])
    gap_id = str(gap.pk)
    transaction.on_commit(lambda: _alert(gap_id))
    return gap


def _alert(gap_id: str) -> None:
    from tenantry.metering.tasks import collector_gap_alert_task

    collector_gap_alert_task(gap_id)


def gap_close(*, collector: str, instance: Instance | None) -> int:
    """The source is readable again: close the open gap, if any."""
    return CollectorGap.objects.filter(collector=collector, instance=instance, ended_at__isnull=True) \
        .update(ended_at=timezone.now())
