"""When a cron schedule fires next (or fired last), in a time zone, daylight saving included.

Pure functions, no database. An expression has 5 fields (minute hour day-of-month month
day-of-week) or 6 (seconds first, as n8n writes its "every N seconds" rules). Each field takes
`*`, `?`, numbers, names (JAN, MON), ranges `a-b`, steps `*/n` / `a-b/n` / `a/n`, and lists.
Day of month and day of week both restricted means either (Vixie cron, which n8n's `cron`
package follows). 7 is Sunday, like 0.

Wall-clock times are turned into instants with the zone's rules: a time skipped when clocks go
forward fires at the same wall-clock reading taken with the old offset (i.e. just after the jump,
02:30 → 03:30 CEST), a time that happens twice when clocks go back fires the first time. Tenantry
uses these instants to wake an instance ahead of its runs, so erring early is the safe side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
# (lowest, highest, names) per field, seconds first.
_FIELDS = [(0, 59, {}), (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS)]
_PART = re.compile(r"^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(\d+))?$")
SEARCH_DAYS = 366 * 5  # a schedule that does not fire in five years (Feb 30) never fires


class CronError(ValueError):
    """The expression cannot be read; the message says which part."""


def zone(name: str | None) -> ZoneInfo:
    """A time zone by its IANA name; CronError when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name!r}") from exc


def _value(token: str, names: dict[str, int], field: str) -> int:
    if token.isdigit():
        return int(token)
    if token.upper()[:3] in names and token.isalpha():
        return names[token.upper()[:3]]
    raise CronError(f"{field}: {token!r} is not a number")


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    """The allowed values of one field, and whether it is restricted (not `*`)."""
    low, high, names = _FIELDS[index]
    label = ["second", "minute", "hour", "day of month", "month", "day of week"][index]
    allowed: set[int] = set()
    restricted = False
    for part in text.split(","):
        match = _PART.match(part.strip())
        if not match:
            raise CronError(f"{label}: cannot read {part!r}")
        base, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CronError(f"{label}: a step must be at least 1")
        if base in ("*", "?"):
            start, end = low, high
            restricted = restricted or step_text is not None
        else:
            restricted = True
            if "-" in base:
                first, last = base.split("-", 1)
                start, end = _value(first, names, label), _value(last, names, label)
            else:
                start = _value(base, names, label)
                end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"{label}: {part!r} is outside {low}-{high}")
        allowed.update(range(start, end + 1, step))
    if index == 5 and 7 in allowed:
        allowed = (allowed - {7}) | {0}
    return frozenset(allowed), restricted


class Cron:
    """A parsed expression; `next_after` / `previous_before` give instants (aware UTC)."""

    def __init__(self, expression: str):
        parts = expression.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise CronError(f"{expression!r}: a cron expression has 5 or 6 fields")
        fields = [_field(text, i) for i, text in enumerate(parts)]
        self.expression = expression
        self.seconds, self.minutes, self.hours = (sorted(f[0]) for f in fields[:3])
        self.days, self.dom_restricted = fields[3]
        self.months = fields[4][0]
        self.weekdays, self.dow_restricted = fields[5]

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.dom_restricted and self.dow_restricted:
            return in_month or in_week
        return in_month and in_week

    def _times(self, reverse: bool = False) -> Iterator[time]:
        hours = reversed(self.hours) if reverse else self.hours
        for hour in hours:
            for minute in (reversed(self.minutes) if reverse else self.minutes):
                for second in (reversed(self.seconds) if reverse else self.seconds):
                    yield time(hour, minute, second)

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        """The first firing strictly after `after` (aware), or None within SEARCH_DAYS."""
        after = after.astimezone(UTC)  # compared by instant, never by wall clock in one zone
        local_day = after.astimezone(tz).date() - timedelta(days=1)  # a gap may move times back a day
        for offset in range(SEARCH_DAYS + 2):
            day = local_day + timedelta(days=offset)
            if not self._day_matches(day):
                continue
            for moment in self._times():
                instant = datetime.combine(day, moment, tzinfo=tz)
                if instant > after:
                    return instant.astimezone(UTC)
        return None

    def previous_before(self, before: datetime, tz: ZoneInfo) -> datetime | None:
        """The last firing at or before `before` (aware), or None within SEARCH_DAYS."""
        before = before.astimezone(UTC)
        local_day = before.astimezone(tz).date() + timedelta(days=1)
        for offset in range(SEARCH_DAYS + 2):
            day = local_day - timedelta(days=offset)
            if not self._day_matches(day):
                continue
            for moment in self._times(reverse=True):
                instant = datetime.combine(day, moment, tzinfo=tz)
                if instant <= before:
                    return instant.astimezone(UTC)
        return None


def next_fire(expressions: list[str] | tuple[str, ...], tz_name: str | None, after: datetime) -> datetime | None:
    """The earliest next firing of any of the expressions, in the given zone."""
    tz = zone(tz_name)
    found = [Cron(e).next_after(after, tz) for e in expressions]
    return min((f for f in found if f is not None), default=None)


def previous_fire(expressions: list[str] | tuple[str, ...], tz_name: str | None,
                  before: datetime) -> datetime | None:
    tz = zone(tz_name)
    found = [Cron(e).previous_before(before, tz) for e in expressions]
    return max((f for f in found if f is not None), default=None)
