"""The checks of a batch's items, in one pass that also lays the accepted items out as columns.

This loop is most of a batch's CPU time in Python (1,000 items), so it is written for that: the
common shapes (an int or a decimal string value, an ISO timestamp the C parser reads) take the
shortest path, and each item is checked in a fixed order so that a refusal names the same
field whatever the path: fields, transaction id, meter, timestamp, value, key, instance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.conf import settings
from django.utils.dateparse import parse_datetime

from tenantry.metering.errors import InvalidUsageEvent
from tenantry.metering.models import Aggregation

_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9._:@/-]{1,100}$")
_FIELDS = frozenset({"transaction_id", "meter", "timestamp", "value", "key", "instance"})
_VALUE_LIMIT = 10**18
_DEFAULT_ONE = (Aggregation.COUNT, Aggregation.UNIQUE)  # a missing value counts as 1

Stream = tuple[str, str | None]  # (meter id, instance id or None), ids as text


class MeterRef(NamedTuple):
    """What the checks need of a meter; `id` as text (the form the batch statements send)."""

    id: str
    code: str
    aggregation: str
    internal: bool


@dataclass(frozen=True)
class Window:
    """The accepted timestamps, computed once per batch."""

    latest: datetime
    earliest: datetime
    max_age_days: int

    @classmethod
    def around(cls, now: datetime) -> Window:
        days = settings.TENANTRY["METERING_MAX_EVENT_AGE_DAYS"]
        skew = settings.TENANTRY["METERING_MAX_CLOCK_SKEW_SECONDS"]
        return cls(now + timedelta(seconds=skew), now - timedelta(days=days), days)


@dataclass
class Columns:
    """The batch's new items (repeats of a transaction id inside the batch dropped), column by
    column as the insert takes them; `positions` are the items' indexes, for refusals."""

    positions: list[int] = field(default_factory=list)
    meter_ids: list[str] = field(default_factory=list)
    instance_ids: list[str | None] = field(default_factory=list)
    transaction_ids: list[str] = field(default_factory=list)
    timestamps: list[datetime] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # decimal text, exact
    keys: list[str] = field(default_factory=list)
    streams: set[Stream] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.positions)


def refuse(index: int, message: str, field_name: str, **details: Any) -> InvalidUsageEvent:
    return InvalidUsageEvent(f"Event {index}: {message}", details={"index": index, "field": field_name, **details})


def check_shape(events: Any, max_batch: int) -> None:
    """The batch itself: a non-empty list of at most `max_batch` objects."""
    if not isinstance(events, Sequence) or isinstance(events, (str, bytes)):
        raise InvalidUsageEvent("`events` must be a list.", details={"field": "events"})
    if not events:
        raise InvalidUsageEvent("The batch is empty.", details={"field": "events"})
    if len(events) > max_batch:
        raise InvalidUsageEvent(f"At most {max_batch} events per batch ({len(events)} sent).",
                                code="batch_too_large", details={"field": "events", "max": max_batch})
    for index, item in enumerate(events):
        if not isinstance(item, Mapping):
            raise refuse(index, "each event must be an object.", "")


def references(events: Sequence[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """The meter codes and instance references the batch names, to look up before the checks
    (one that no database could hold names nothing: its item is refused as unknown)."""
    codes = {code for item in events if isinstance(code := item.get("meter"), str)}
    refs = {str(ref) for item in events if (ref := item.get("instance")) is not None and ref != ""}
    return {c for c in codes if _storable(c)}, {r for r in refs if _storable(r)}


def _timestamp(index: int, raw: Any, window: Window) -> datetime:
    parsed = None
    if isinstance(raw, str):
        try:  # the C parser first (~1 µs); Django's regex one for the forms it alone accepts
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            try:
                parsed = parse_datetime(raw)
            except ValueError:  # well formed but not a date (e.g. February 30th)
                parsed = None
    if parsed is None:
        raise refuse(index, "the timestamp must be an ISO 8601 date and time.", "timestamp")
    zone = parsed.tzinfo
    if zone is not UTC and (zone is None or parsed.utcoffset() is None):
        raise refuse(index, "the timestamp needs a time zone (e.g. Z or +01:00).", "timestamp")
    if parsed > window.latest:
        raise refuse(index, "the timestamp is in the future.", "timestamp")
    if parsed < window.earliest:
        raise refuse(index, f"the timestamp is older than {window.max_age_days} days.", "timestamp")
    # Stored in UTC: Python takes offsets up to ±23:59, PostgreSQL only to ±15:59.
    return parsed if zone is UTC else parsed.astimezone(UTC)


def _value(index: int, raw: Any, meter: MeterRef) -> str:
    """The value as exact decimal text (what the numeric column receives)."""
    if type(raw) is int:  # the common case, and bool (an int subclass) is not one
        if 0 <= raw < _VALUE_LIMIT:
            return str(raw)
        if raw < 0:
            raise refuse(index, "the value must not be negative.", "value")
        raise refuse(index, "the value is out of range (below 10^18, at most 6 decimals).", "value")
    if raw is None:
        if meter.aggregation in _DEFAULT_ONE:
            return "1"
        raise refuse(index, f"a value is required for the {meter.code} meter.", "value")
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise refuse(index, "the value must be a number.", "value")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise refuse(index, "the value must be a number.", "value") from None
    if not value.is_finite() or (isinstance(raw, float) and not math.isfinite(raw)):
        raise refuse(index, "the value must be a finite number.", "value")
    if value < 0:
        raise refuse(index, "the value must not be negative.", "value")
    if value >= _VALUE_LIMIT or value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise refuse(index, "the value is out of range (below 10^18, at most 6 decimals).", "value")
    return str(value)


def _check_key(index: int, key: Any) -> None:
    """A key is text PostgreSQL can store: at most 200 characters, no NUL, no lone surrogate
    (JSON can carry both, and the database refused them with a server error)."""
    if not isinstance(key, str) or len(key) > 200:
        raise refuse(index, "key must be a string of at most 200 characters.", "key")
    if not _storable(key):
        raise refuse(index, "key must be valid text (no NUL character, no lone surrogate).", "key")


def _storable(text: str) -> bool:
    """Text the database takes: no NUL character, and UTF-8 encodable (no lone surrogate)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def columns(events: Sequence[Mapping[str, Any]], *, meters: Mapping[str, MeterRef],
            instances: Mapping[str, str], window: Window) -> Columns:
    """Check every item (the first bad one refuses the batch with its index) and lay the new
    ones out as columns. `meters`: by code; `instances`: the team's live instances, id as text,
    by slug and by id."""
    rows: list[tuple[int, str, str | None, str, datetime, str, str]] = []
    seen: set[str] = set()
    fields_ok, txn_ok = _FIELDS.issuperset, _TRANSACTION_ID.match
    for index, item in enumerate(events):
        if not fields_ok(item):
            unknown = sorted(set(item) - _FIELDS)
            raise refuse(index, f"unknown field(s): {', '.join(unknown)}.", unknown[0])
        txn = item.get("transaction_id")
        if not isinstance(txn, str) or not txn_ok(txn):
            raise refuse(index, "transaction_id must be 1-100 characters of letters, digits and . _ : @ / -.",
                         "transaction_id")
        code = item.get("meter")
        meter = meters.get(code) if isinstance(code, str) else None
        if meter is None or meter.internal:
            raise refuse(index, f"unknown meter {code!r}.", "meter")
        timestamp = _timestamp(index, item.get("timestamp"), window)
        value = _value(index, item.get("value"), meter)
        key = item.get("key") or ""
        if key:
            _check_key(index, key)
        elif meter.aggregation == Aggregation.UNIQUE:
            raise refuse(index, f"the {code} meter counts distinct keys: `key` is required.", "key")
        ref = item.get("instance")
        instance_id = None
        if ref is not None and ref != "":
            instance_id = instances.get(str(ref))
            if instance_id is None:  # another team's instance looks exactly like a missing one
                raise refuse(index, f"no instance {ref!r} in this team.", "instance")
        if txn not in seen:
            seen.add(txn)
            rows.append((index, meter.id, instance_id, txn, timestamp, value, key))
    out = Columns()
    if rows:  # rows to columns in C (one append per item above, not seven)
        (out.positions, out.meter_ids, out.instance_ids, out.transaction_ids, out.timestamps, out.values,
         out.keys) = map(list, zip(*rows, strict=True))
        out.streams = set(zip(out.meter_ids, out.instance_ids, strict=True))
    return out


def check_order(batch: Columns, heads: Mapping[Stream, datetime | None], skipped: Collection[str] = ()) -> None:
    """Per stream (meter + instance): not earlier than the previous new event of the batch, nor
    than the latest one already stored (rollups of closed hours and alerts already sent rely on
    it). `heads`: the stored heads, read before the batch was written; `skipped`: transaction ids
    already stored (a repeat is not late)."""
    latest = dict(heads)
    for position, meter_id, instance_id, txn, timestamp in zip(
            batch.positions, batch.meter_ids, batch.instance_ids, batch.transaction_ids, batch.timestamps,
            strict=True):
        if skipped and txn in skipped:
            continue
        stream = (meter_id, instance_id)
        previous = latest.get(stream)
        if previous is not None and timestamp < previous:
            raise refuse(position, f"out of order: {timestamp.isoformat()} is before {previous.isoformat()}, "
                                   "the latest event of that meter and instance.",
                         "timestamp", latest=previous.isoformat())
        latest[stream] = timestamp
