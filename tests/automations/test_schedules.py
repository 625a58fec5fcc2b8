"""Next-fire computation of cron schedules in a time zone (DST included), and n8n's time-trigger
nodes read as cron expressions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenantry.automations.backends.n8n_schedules import node_expressions, workflow_zone
from tenantry.automations.schedules import Cron, CronError, next_fire, previous_fire, zone


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_monday_two_am_in_paris_is_midnight_utc_in_summer_and_one_am_in_winter():
    # 2026-03-27 is a Friday; the next Monday 02:00 CEST (UTC+2) is 00:00 UTC.
    assert next_fire(["0 2 * * 1"], "Europe/Paris", utc(2026, 3, 27)) == utc(2026, 3, 30, 0, 0)
    # In winter (CET, UTC+1): 01:00 UTC.
    assert next_fire(["0 2 * * 1"], "Europe/Paris", utc(2026, 1, 1)) == utc(2026, 1, 5, 1, 0)
    # The same expression in UTC fires at 02:00 UTC: the zone matters.
    assert next_fire(["0 2 * * 1"], "UTC", utc(2026, 1, 1)) == utc(2026, 1, 5, 2, 0)


def test_time_skipped_by_spring_forward_fires_just_after_the_jump():
    # 2026-03-29: Paris clocks jump 02:00 -> 03:00. 02:30 does not exist: it fires at 03:30 CEST.
    fired = next_fire(["30 2 * * *"], "Europe/Paris", utc(2026, 3, 29, 0, 0))
    assert fired == utc(2026, 3, 29, 1, 30)
    assert fired.astimezone(zone("Europe/Paris")).hour == 3
    # The next day is normal again: 02:30 CEST = 00:30 UTC.
    assert next_fire(["30 2 * * *"], "Europe/Paris", fired) == utc(2026, 3, 30, 0, 30)


def test_time_repeated_by_fall_back_fires_once_the_first_time():
    # 2026-10-25: Paris clocks go 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    first = next_fire(["30 2 * * *"], "Europe/Paris", utc(2026, 10, 24, 23, 0))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert next_fire(["30 2 * * *"], "Europe/Paris", first) == utc(2026, 10, 26, 1, 30)  # next day, CET


def test_hourly_schedule_across_the_dst_change_keeps_every_real_hour():
    fires, at = [], utc(2026, 10, 24, 23, 30)
    for _ in range(4):
        at = next_fire(["0 * * * *"], "Europe/Paris", at)
        fires.append(at)
    # Instants strictly increase (never a step back when the wall clock repeats an hour).
    assert fires == sorted(fires) and len(set(fires)) == 4


def test_half_hour_offset_zone_and_steps_ranges_lists_names():
    assert next_fire(["*/15 9-17 * * MON-FRI"], "Asia/Kolkata", utc(2026, 1, 3, 12)) == utc(2026, 1, 5, 3, 30)
    assert next_fire(["0 0 1,15 JAN,JUL *"], "UTC", utc(2026, 1, 2)) == utc(2026, 1, 15)
    assert next_fire(["*/20 * * * * *"], "UTC", utc(2026, 1, 1, 0, 0, 5)) == utc(2026, 1, 1, 0, 0, 20)
    # 7 is Sunday like 0; day of month and day of week both set: either one (Vixie cron).
    assert next_fire(["0 12 * * 7"], "UTC", utc(2026, 1, 1)) == utc(2026, 1, 4, 12)
    assert next_fire(["0 0 13 * FRI"], "UTC", utc(2026, 1, 1)) == utc(2026, 1, 2)


def test_previous_fire_and_never_firing_and_several_expressions():
    assert previous_fire(["0 2 * * 1"], "Europe/Paris", utc(2026, 3, 30, 0, 0)) == utc(2026, 3, 30, 0, 0)
    assert previous_fire(["0 2 * * 1"], "Europe/Paris", utc(2026, 3, 29, 23, 59)) == utc(2026, 3, 23, 1, 0)
    assert next_fire(["0 0 30 2 *"], "UTC", utc(2026, 1, 1)) is None
    assert next_fire(["0 9 * * *", "0 8 * * *"], "UTC", utc(2026, 1, 1)) == utc(2026, 1, 1, 8)


@pytest.mark.parametrize("bad", ["", "* * *", "61 * * * *", "* 24 * * *", "5-1 * * * *", "*/0 * * * *",
                                 "x * * * *", "* * * FOO *"])
def test_unreadable_expressions_are_refused_with_the_field(bad):
    with pytest.raises(CronError):
        Cron(bad)


def test_unknown_time_zone_is_refused():
    with pytest.raises(CronError, match="Mars/Olympus"):
        next_fire(["* * * * *"], "Mars/Olympus", utc(2026, 1, 1))


def schedule(*rules: dict) -> dict:
    return {"type": "n8n-nodes-base.scheduleTrigger", "name": "Schedule",
            "parameters": {"rule": {"interval": list(rules)}}}


def test_n8n_schedule_trigger_rules_become_cron_expressions():
    node = schedule({"field": "weeks", "weeksInterval": 1, "triggerAtDay": [1], "triggerAtHour": 2,
                     "triggerAtMinute": 0},
                    {"field": "minutes", "minutesInterval": 15},
                    {"field": "hours", "hoursInterval": 3, "triggerAtMinute": 10},
                    {"field": "days", "triggerAtHour": 7},
                    {"field": "months", "triggerAtDayOfMonth": 5, "triggerAtHour": 6, "triggerAtMinute": 30},
                    {"field": "seconds", "secondsInterval": 20},
                    {"field": "cronExpression", "expression": "0 6 * * 1-5"})
    assert node_expressions(node) == ("0 2 * * 1", "*/15 * * * *", "10 */3 * * *", "0 7 * * *", "30 6 5 * *",
                                      "*/20 * * * * *", "0 6 * * 1-5")
    # n8n's defaults: a rule without a field is "every day at midnight".
    assert node_expressions({"type": "n8n-nodes-base.scheduleTrigger", "parameters": {}}) == ("0 0 * * *",)
    assert node_expressions({**node, "disabled": True}) == ()
    assert node_expressions({"type": "n8n-nodes-base.webhook", "parameters": {}}) == ()


def test_n8n_legacy_cron_node_and_the_workflow_time_zone():
    node = {"type": "n8n-nodes-base.cron", "name": "Cron", "parameters": {"triggerTimes": {"item": [
        {"mode": "everyWeek", "hour": 9, "minute": 15, "weekday": "3"},
        {"mode": "everyX", "value": 10, "unit": "minutes"},
        {"mode": "custom", "cronExpression": "0 0 1 * *"}, {}]}}}
    assert node_expressions(node) == ("15 9 * * 3", "*/10 * * * *", "0 0 1 * *", "0 14 * * *")
    assert workflow_zone({"settings": {"timezone": "America/New_York"}}, "Europe/Paris") == "America/New_York"
    assert workflow_zone({"settings": {"timezone": "DEFAULT"}}, "Europe/Paris") == "Europe/Paris"
    assert workflow_zone({}, "Europe/Paris") == "Europe/Paris"
