"""Usage events in: API batches (validated item by item, all or nothing) and collectors.

Idempotency is the database's: (team, transaction_id) is unique; on PostgreSQL a batch is one
INSERT ... ON CONFLICT DO NOTHING (elsewhere the ids already stored are dropped first), so a
client that retries after a timeout, or a collector restarted mid-pass, never counts anything
twice. The team row is locked while a batch is checked and written, so
two concurrent batches cannot both pass the ordering check with interleaved timestamps.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance, Status
from tenantry.metering.errors import InvalidUsageEvent
from tenantry.metering.models import Aggregation, Meter, UsageEvent

MAX_BATCH = 1000
_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9._:@/-]{1,100}$")
_FIELDS = {"transaction_id", "meter", "timestamp", "value", "key", "instance"}


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


def _metering(name: str) -> Any:
    return settings.TENANTRY.get(f"METERING_{name}")


def _refuse(index: int, message: str, field: str, **details: Any) -> InvalidUsageEvent:
    return InvalidUsageEvent(f"Event {index}: {message}", details={"index": index, "field": field, **details})


def _parse_value(index: int, raw: Any, meter: Meter) -> Decimal:
    if raw is None:
        if meter.aggregation in (Aggregation.COUNT, Aggregation.UNIQUE):
            return Decimal(1)
        raise _refuse(index, f"a value is required for the {meter.code} meter.", "value")
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _refuse(index, "the value must be a number.", "value")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise _refuse(index, "the value must be a number.", "value") from None
    if not value.is_finite() or (isinstance(raw, float) and not math.isfinite(raw)):
        raise _refuse(index, "the value must be a finite number.", "value")
    if value < 0:
        raise _refuse(index, "the value must not be negative.", "value")
    if value >= Decimal(10) ** 18 or value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise _refuse(index, "the value is out of range (below 10^18, at most 6 decimals).", "value")
    return value


class _Window(NamedTuple):
    """The accepted timestamps, computed once per batch."""

    latest: datetime
    earliest: datetime
    max_age_days: int


def _window(now: datetime) -> _Window:
    days = _metering("MAX_EVENT_AGE_DAYS")
    return _Window(now + timedelta(seconds=_metering("MAX_CLOCK_SKEW_SECONDS")), now - timedelta(days=days), days)


def _parse_timestamp(index: int, raw: Any, window: _Window) -> datetime:
    parsed = None
    if isinstance(raw, str):
        try:  # the C parser first (~1 µs); Django's regex one for the forms it alone accepts
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = parse_datetime(raw)
    if parsed is None:
        raise _refuse(index, "the timestamp must be an ISO 8601 date and time.", "timestamp")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _refuse(index, "the timestamp needs a time zone (e.g. Z or +01:00).", "timestamp")
    if parsed > window.latest:
        raise _refuse(index, "the timestamp is in the future.", "timestamp")
    if parsed < window.earliest:
        raise _refuse(index, f"the timestamp is older than {window.max_age_days} days.", "timestamp")
    # Stored in UTC: Python takes offsets up to ±23:59, PostgreSQL only to ±15:59.
    return parsed.astimezone(UTC)


def _resolve_instances(team: Team, refs: set[str]) -> dict[str, Instance]:
    if not refs:
        return {}
    ids = []
    for ref in refs:
        with contextlib.suppress(ValueError):
            ids.append(uuid.UUID(ref))
    found = Instance.objects.filter(team=team).exclude(status=Status.DELETED).filter(Q(slug__in=refs) | Q(id__in=ids))
    by_ref: dict[str, Instance] = {}
    for instance in found:
        by_ref[instance.slug] = instance
        by_ref[str(instance.id)] = instance
    return by_ref


@transaction.atomic
def usage_events_ingest(*, team: Team, events: Sequence[Any]) -> IngestResult:
    """Store a batch of usage events for `team`, or none of it: the first malformed, out-of-order
    or foreign item refuses the whole batch with its index. Items whose transaction id is already
    stored (or repeated in the batch) are counted as duplicates and skipped."""
    if not isinstance(events, Sequence) or isinstance(events, (str, bytes)):
        raise InvalidUsageEvent("`events` must be a list.", details={"field": "events"})
    if not events:
        raise InvalidUsageEvent("The batch is empty.", details={"field": "events"})
    if len(events) > MAX_BATCH:
        raise InvalidUsageEvent(f"At most {MAX_BATCH} events per batch ({len(events)} sent).",
                                code="batch_too_large", details={"field": "events", "max": MAX_BATCH})
    Team.objects.select_for_update().filter(pk=team.pk).first()
    window = _window(timezone.now())
    meters = {m.code: m for m in Meter.objects.all()}
    for index, item in enumerate(events):
        if not isinstance(item, Mapping):
            raise _refuse(index, "each event must be an object.", "")
    refs = {str(item["instance"]) for item in events if item.get("instance") not in (None, "")}
    instances = _resolve_instances(team, refs)

    rows: list[_Row] = []
    seen: set[str] = set()
    for index, item in enumerate(events):
        unknown = set(item) - _FIELDS
        if unknown:
            raise _refuse(index, f"unknown field(s): {', '.join(sorted(unknown))}.", sorted(unknown)[0])
        txn = item.get("transaction_id")
        if not isinstance(txn, str) or not _TRANSACTION_ID.match(txn):
            raise _refuse(index, "transaction_id must be 1-100 characters of letters, digits and . _ : @ / -.",
                          "transaction_id")
        meter = meters.get(item.get("meter")) if isinstance(item.get("meter"), str) else None
        if meter is None or meter.internal:
            raise _refuse(index, f"unknown meter {item.get('meter')!r}.", "meter")
        timestamp = _parse_timestamp(index, item.get("timestamp"), window)
        value = _parse_value(index, item.get("value"), meter)
        key = item.get("key") or ""
        if not isinstance(key, str) or len(key) > 200:
            raise _refuse(index, "key must be a string of at most 200 characters.", "key")
        if meter.aggregation == Aggregation.UNIQUE and not key:
            raise _refuse(index, f"the {meter.code} meter counts distinct keys: `key` is required.", "key")
        instance = None
        if item.get("instance") not in (None, ""):
            instance = instances.get(str(item["instance"]))
            if instance is None:  # another team's instance looks exactly like a missing one
                raise _refuse(index, f"no instance {item['instance']!r} in this team.", "instance")
        if txn in seen:
            continue
        seen.add(txn)
        rows.append(_Row(index, meter.pk, instance.pk if instance else None, txn, timestamp, value, key))

    if connection.vendor == "postgresql":
        # One statement stores what is new and skips what is stored (the unique index is probed
        # once, by the insert); the order check then runs on what was new, against the heads
        # read before, and a refusal rolls the whole batch back.
        heads = _stream_heads(team, {(r.meter_id, r.instance_id) for r in rows})
        inserted = _insert_new(team, rows)
        fresh = [row for row in rows if row.transaction_id in inserted]
        _check_order(fresh, heads)
    else:
        stored = _stored_ids(team, [r.transaction_id for r in rows])
        fresh = [row for row in rows if row.transaction_id not in stored]
        _check_order(fresh, _stream_heads(team, {(r.meter_id, r.instance_id) for r in fresh}))
        _insert(team, fresh)
    return IngestResult(accepted=len(fresh), duplicates=len(events) - len(fresh))


def _stored_ids(team: Team, ids: list[str]) -> set[str]:
    return set(UsageEvent.objects.filter(team=team, transaction_id__in=ids).values_list("transaction_id", flat=True))


class _Row(NamedTuple):
    position: int  # in the batch, for refusals
    meter_id: Any
    instance_id: Any
    transaction_id: str
    timestamp: datetime
    value: Decimal
    key: str


def _array(items: list[str | None]) -> str:
    """A PostgreSQL array literal of text. Built here as one string: Django binds parameters on
    the client, and psycopg quotes a Python list element by element (most of a batch's cost)."""
    return "{" + ",".join("NULL" if item is None else '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for item in items) + "}"


def _insert_new(team: Team, rows: list[_Row]) -> set[str]:
    """PostgreSQL: the batch as one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING
    (six array parameters, not 8,000 scalars; ids already stored are skipped by the unique index);
    returns the transaction ids actually inserted."""
    if not rows:
        return set()
    ids: dict[Any, str | None] = {None: None}
    for row in rows:
        for ref in (row.instance_id, row.meter_id):
            if ref not in ids:
                ids[ref] = str(ref)
    columns: list[list[str | None]] = [
        [ids[r.instance_id] for r in rows], [ids[r.meter_id] for r in rows], [r.transaction_id for r in rows],
        [r.timestamp.isoformat() for r in rows], [str(r.value) for r in rows], [r.key for r in rows]]
    table = UsageEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (team_id, instance_id, meter_id, transaction_id, timestamp, value, key, "  # noqa: S608
            "received_at) SELECT %s, u.i::uuid, u.m::uuid, u.t, u.ts::timestamptz, u.v::numeric, u.k, %s "
            "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
            "AS u(i, m, t, ts, v, k) ON CONFLICT (team_id, transaction_id) DO NOTHING RETURNING transaction_id",
            [team.pk, timezone.now(), *(_array(c) for c in columns)])
        return {found for (found,) in cursor.fetchall()}


def _insert(team: Team, rows: list[_Row]) -> None:
    """Other databases: bulk_create, inside the batch's transaction (a failure stores nothing)."""
    if not rows:
        return
    UsageEvent.objects.bulk_create([
        UsageEvent(team=team, instance_id=row.instance_id, meter_id=row.meter_id, transaction_id=row.transaction_id,
                   timestamp=row.timestamp, value=row.value, key=row.key) for row in rows], batch_size=500)


def _check_order(rows: list[_Row], latest: dict[tuple[Any, Any], datetime | None]) -> None:
    """Per stream (meter + instance): not earlier than the previous event of the batch, nor than
    the latest one already stored (rollups of closed hours and alerts already sent rely on it).
    `latest`: the stored heads (_stream_heads), read before the batch was written."""
    for row in rows:
        stream = (row.meter_id, row.instance_id)
        previous = latest[stream]
        if previous is not None and row.timestamp < previous:
            raise _refuse(row.position, f"out of order: {row.timestamp.isoformat()} is before "
                                        f"{previous.isoformat()}, the latest event of that meter and instance.",
                          "timestamp", latest=previous.isoformat())
        latest[stream] = row.timestamp


def _stream_heads(team: Team, streams: set[tuple[Any, Any]]) -> dict[tuple[Any, Any], datetime | None]:
    """The latest stored timestamp of each stream: one index lookup per stream (never a scan of
    the stream's history), in one round trip on PostgreSQL."""
    heads: dict[tuple[Any, Any], datetime | None] = dict.fromkeys(streams)
    if not streams:
        return heads
    if connection.vendor != "postgresql":
        for meter_id, instance_id in streams:
            same = UsageEvent.objects.filter(team=team, meter_id=meter_id)
            same = same.filter(instance_id=instance_id) if instance_id else same.filter(instance__isnull=True)
            heads[(meter_id, instance_id)] = same.order_by("-timestamp").values_list("timestamp", flat=True).first()
        return heads
    table = UsageEvent._meta.db_table
    parts, params = [], []
    for position, (meter_id, instance_id) in enumerate(sorted(streams, key=str)):
        where = "instance_id = %s" if instance_id else "instance_id IS NULL"
        # Only an integer and the model's own table name are formatted in; values are parameters.
        parts.append(f"(SELECT {position}, timestamp FROM {table} WHERE team_id = %s AND meter_id = %s "  # noqa: S608
                     f"AND {where} ORDER BY timestamp DESC LIMIT 1)")
        params += [team.pk, meter_id] + ([instance_id] if instance_id else [])
    ordered = sorted(streams, key=str)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for position, timestamp in cursor.fetchall():
            heads[ordered[position]] = timestamp
    return heads


def usage_record(*, instance: Instance, meter: Meter, value: Decimal, transaction_id: str,
                 timestamp: datetime | None = None, key: str = "") -> bool:
    """A collector's event (no API checks: the meter may be internal). False when the transaction
    id is already stored. Call inside the transaction that also moves the collector's cursor."""
    _, created = UsageEvent.objects.get_or_create(
        team_id=instance.team_id, transaction_id=transaction_id,
        defaults={"instance": instance, "meter": meter, "value": value, "key": key,
                  "timestamp": timestamp or timezone.now()})
    return created
