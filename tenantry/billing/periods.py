"""Billing periods: an anchor in the customer's time zone, month-end clamping, proration by seconds.

Every period is computed from the anchor (never from the previous period), so a Jan 31 anchor gives
Feb 28/29 and then Mar 31 again. Results are aware UTC datetimes.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def _months(interval: str) -> int:
    if interval == "month":
        return 1
    if interval == "year":
        return 12
    raise ValueError(f"unknown interval {interval!r}")


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("naive datetime: billing works with aware datetimes only")


def period_boundary(anchor: datetime, index: int, interval: str, tz: str) -> datetime:
    """The start of period `index` (0 = the anchor itself), in UTC."""
    _require_aware(anchor)
    zone = ZoneInfo(tz)
    local = anchor.astimezone(zone)
    month0 = local.year * 12 + (local.month - 1) + index * _months(interval)
    year, month = divmod(month0, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    boundary = datetime(year, month, day, local.hour, local.minute, local.second, tzinfo=zone)
    # Round trip through UTC normalises a wall time that does not exist (DST gap) to a real instant.
    return boundary.astimezone(UTC)


def period_at(anchor: datetime, at: datetime, interval: str, tz: str) -> tuple[int, datetime, datetime]:
    """(index, start, end) of the period that contains `at` (start inclusive, end exclusive)."""
    _require_aware(at)
    span = _months(interval)
    local_anchor = anchor.astimezone(ZoneInfo(tz))
    local_at = at.astimezone(ZoneInfo(tz))
    guess = ((local_at.year - local_anchor.year) * 12 + local_at.month - local_anchor.month) // span
    index = max(guess - 1, 0) if at >= anchor else min(guess + 1, 0)
    while period_boundary(anchor, index + 1, interval, tz) <= at:
        index += 1
    while period_boundary(anchor, index, interval, tz) > at:
        index -= 1
    return index, period_boundary(anchor, index, interval, tz), period_boundary(anchor, index + 1, interval, tz)


def next_period(anchor: datetime, period_end: datetime, interval: str, tz: str) -> tuple[datetime, datetime]:
    """The period that starts where the given one ends."""
    _, start, end = period_at(anchor, period_end, interval, tz)
    return start, end


def _cumulative(amount_minor: int, start: datetime, end: datetime, at: datetime) -> int:
    """What is owed from `start` to `at` of `amount_minor` for [start, end), rounded half up (integer math)."""
    total = int((end - start).total_seconds())
    elapsed = min(max(int((at - start).total_seconds()), 0), total)
    sign = -1 if amount_minor < 0 else 1
    return sign * ((2 * abs(amount_minor) * elapsed + total) // (2 * total))


def prorate(amount_minor: int, period_start: datetime, period_end: datetime, start: datetime, end: datetime) -> int:
    """The share of a period's amount for [start, end), by seconds.

    Computed as F(end) - F(start) of one rounded cumulative function, so the prorations of any split
    of the period telescope to exactly the full amount: no cent appears or vanishes.
    """
    if period_end <= period_start:
        raise ValueError("empty period")
    if end < start:
        raise ValueError("end before start")
    return (_cumulative(amount_minor, period_start, period_end, end)
            - _cumulative(amount_minor, period_start, period_end, start))
