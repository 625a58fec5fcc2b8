"""Usage events in: API batches (validated item by item, all or nothing) and collectors.

Idempotency is the database's: (team, transaction_id) is unique and the insert skips ids already
stored, so a client that retries after a timeout, or a collector restarted mid-pass, never counts
anything twice. The team row is locked while a batch is checked and written, so two concurrent
batches cannot both pass the ordering check with interleaved timestamps.

A batch costs the same few statements whatever its size (on PostgreSQL: the context read, one
insert that also answers the stored ids and stream heads, the commit; see `postgres.py`); the
items are checked in one pass in Python (`items.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance
from tenantry.metering.models import Meter, UsageEvent
from tenantry.metering.services.ingest import portable, postgres
from tenantry.metering.services.ingest.items import Window, check_order, check_shape, columns, references

MAX_BATCH = 1000


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


@transaction.atomic
def usage_events_ingest(*, team: Team, events: Sequence[Any]) -> IngestResult:
    """Store a batch of usage events for `team`, or none of it: the first malformed, out-of-order
    or foreign item refuses the whole batch with its index. Items whose transaction id is already
    stored (or repeated in the batch) are counted as duplicates and skipped."""
    check_shape(events, MAX_BATCH)
    codes, refs = references(events)
    backend = postgres if connection.vendor == "postgresql" else portable
    meters, instances = backend.read_context(team, codes, refs)
    batch = columns(events, meters=meters, instances=instances, window=Window.around(timezone.now()))
    if connection.vendor == "postgresql":
        # Inserted first, checked after: a refusal rolls the insert back with the transaction.
        stored, heads = postgres.store(team, batch)
        check_order(batch, heads, stored)
    else:
        stored = portable.stored_ids(team, batch)
        check_order(batch, portable.heads(team, batch.streams), stored)
        portable.insert(team, batch, stored)
    return IngestResult(accepted=len(batch) - len(stored), duplicates=len(events) - len(batch) + len(stored))


def usage_record(*, instance: Instance, meter: Meter, value: Decimal, transaction_id: str,
                 timestamp: datetime | None = None, key: str = "") -> bool:
    """A collector's event (no API checks: the meter may be internal). False when the transaction
    id is already stored. Call inside the transaction that also moves the collector's cursor."""
    _, created = UsageEvent.objects.get_or_create(
        team_id=instance.team_id, transaction_id=transaction_id,
        defaults={"instance": instance, "meter": meter, "value": value, "key": key,
                  "timestamp": timestamp or timezone.now()})
    return created
