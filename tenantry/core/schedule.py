"""Periodic jobs at a local time of the operator's time zone (settings.TENANTRY_NIGHTLY).

Huey compares its periodic tasks with UTC (HUEY["utc"]); `local_crontab("CLEANUP_AT")` gives a
validator that converts Huey's UTC minute to the operator's local time first, so "03:00" stays
03:00 on the operator's clock across daylight-saving changes. The setting is read on every
check: changing it needs no code change, and tests can freeze a clock and a time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


def nightly_setting(name: str):
    return settings.TENANTRY_NIGHTLY[name]


def operator_time_zone() -> ZoneInfo:
    return ZoneInfo(nightly_setting("TIME_ZONE"))


def local_time(moment: datetime) -> datetime:
    """`moment` (aware, or naive UTC as Huey passes it) on the operator's clock."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(operator_time_zone())


def local_crontab(setting: str) -> Callable[[datetime], bool]:
    """True for the minute whose local time is the setting's "HH:MM"."""

    def validate(moment: datetime) -> bool:
        hour, minute = (int(part) for part in str(nightly_setting(setting)).split(":"))
        local = local_time(moment)
        return (local.hour, local.minute) == (hour, minute)

    validate.__name__ = f"local_crontab_{setting.lower()}"
    return validate


def week_bounds(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The week holding `moment` on the clock of `zone`, Monday 00:00 to the next Monday 00:00
    (wall time, so a daylight-saving change makes that week an hour shorter or longer), in UTC."""
    local = moment.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def team_time_zone(team) -> ZoneInfo:
    """The team's own time zone (its settings), else the operator's."""
    try:
        return ZoneInfo(team.time_zone) if getattr(team, "time_zone", "") else operator_time_zone()
    except (ValueError, KeyError):  # a zone this host's tz database does not know
        return operator_time_zone()
