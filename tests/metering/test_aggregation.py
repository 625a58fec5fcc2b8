"""Each aggregation over a range, hourly/daily rollups recomputed (never doubled), counters
with resets, the executions meter (idempotent across passes), and usage reads scoped to the team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tenantry.accounts.services.teams import team_create
from tenantry.automations.models import ExecutionRecord
from tenantry.metering.aggregation import aggregate
from tenantry.metering.collectors.executions import collect_executions
from tenantry.metering.meters import EXECUTIONS, TRAFFIC_OUT, builtin_meters
from tenantry.metering.models import Meter, UsageEvent, UsageRollup
from tenantry.metering.services.counters import counter_observe
from tenantry.metering.services.rollups import rollup_day, rollup_hour
from tests.billing.entitlement_helpers import subscribe
from tests.metering.helpers import api_client, instance_row

pytestmark = [pytest.mark.django_db]
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture()
def instance():
    team = team_create(name="Agg", owner=None, actor="test")
    return instance_row(team, "agg")


def _events(instance, meter, points):
    UsageEvent.objects.bulk_create([
        UsageEvent(team_id=instance.team_id, instance=instance, meter=meter, transaction_id=f"{meter.code}-{i}",
                   timestamp=T0 + timedelta(minutes=minute), value=Decimal(value), key=key)
        for i, (minute, value, key) in enumerate(points)])
    return UsageEvent.objects.filter(instance=instance, meter=meter)


@pytest.mark.parametrize(("aggregation", "expected"), [
    ("count", "4"), ("sum", "13"), ("max", "6"), ("latest", "2"), ("unique", "3"),
    ("time_weighted", "3.25"),
])
def test_each_aggregation(instance, aggregation, expected):
    meter = Meter.objects.create(code=f"m-{aggregation}", name="m", aggregation=aggregation)
    # minute offsets from T0; the range is [T0, T0 + 60 min)
    events = _events(instance, meter, [(-10, 5, "a"), (0, 3, "a"), (15, 6, "b"), (30, 2, "c"), (45, 2, "a"),
                                       (70, 100, "z")])
    value = aggregate(meter, events, T0, T0 + timedelta(hours=1))
    # time-weighted: 3 for 15 min, 6 for 15, 2 for 30 -> (45 + 90 + 60) / 60 = 3.25 (the value
    # before the range is replaced at T0 exactly; the one after it does not count)
    assert value == Decimal(expected)


def test_time_weighted_carries_the_value_in_force_at_the_start(instance):
    meter = Meter.objects.create(code="gauge", name="g", aggregation="time_weighted")
    events = _events(instance, meter, [(-30, 10, ""), (30, 20, "")])
    assert aggregate(meter, events, T0, T0 + timedelta(hours=1)) == Decimal(15)


def test_rollups_are_recomputed_not_doubled(instance):
    meter = builtin_meters()[TRAFFIC_OUT]
    _events(instance, meter, [(1, 100, ""), (2, 50, ""), (65, 7, "")])
    assert rollup_hour(T0) == 1
    assert rollup_hour(T0) == 1  # again: same row, same value
    hour = UsageRollup.objects.get(instance=instance, meter=meter, granularity="hour", bucket_start=T0)
    assert hour.value == Decimal(150) and hour.events == 2
    rollup_day(T0)
    day = UsageRollup.objects.get(instance=instance, meter=meter, granularity="day")
    assert day.value == Decimal(157) and day.bucket_start == T0.replace(hour=0)
    assert UsageRollup.objects.count() == 2


def test_counters_count_deltas_and_resets_once(instance):
    meter = builtin_meters()[TRAFFIC_OUT]
    observe = lambda raw, epoch="e1": counter_observe(source="s", instance=instance, meter=meter,  # noqa: E731
                                                      raw=Decimal(raw), epoch=epoch)
    assert observe(100) == 100
    assert observe(100) == 0
    assert observe(250) == 150
    assert observe(30) == 30  # lower than the last value: a reset
    assert observe(500, epoch="e2") == 500  # a new epoch: a reset even though it grew
    assert observe(520, epoch="e2") == 20
    total = sum(e.value for e in UsageEvent.objects.filter(instance=instance, meter=meter))
    assert total == Decimal(100 + 150 + 30 + 500 + 20)


def test_executions_become_events_once(instance):
    for i in range(3):
        ExecutionRecord.objects.create(instance=instance, external_id=str(i), workflow_id="w", status="success",
                                       started_at=T0 + timedelta(minutes=i))
    ExecutionRecord.objects.create(instance=instance, external_id="waiting", workflow_id="w", status="new")
    assert collect_executions().events == 3
    assert collect_executions().events == 0
    ExecutionRecord.objects.create(instance=instance, external_id="3", workflow_id="w", status="success",
                                   started_at=T0 + timedelta(minutes=9))
    assert collect_executions().events == 1
    assert UsageEvent.objects.filter(instance=instance, meter__code=EXECUTIONS).count() == 4


def test_usage_is_read_within_the_team_only():
    a = team_create(name="Usage A", owner=None, actor="test")
    b = team_create(name="Usage B", owner=None, actor="test")
    subscribe(a, traffic_gb_month=5)
    subscribe(b, traffic_gb_month=5)
    instance_row(a, "a-one")
    theirs = instance_row(b, "b-one")
    client = api_client(a)
    assert client.get("/api/v1/instances/b-one/usage").status_code == 404
    assert client.get(f"/api/v1/instances/{theirs.id}/usage").status_code == 404
    team_usage = client.get("/api/v1/usage").json()
    assert [entry["instance"] for entry in team_usage] == ["a-one"]
    assert {q["code"] for q in team_usage[0]["quotas"]} == {"traffic", "storage"}


def test_an_execution_queued_before_a_pass_is_metered_once_it_starts(instance, monkeypatch):
    """n8n lists a queued execution without a start time: the record is copied at once, its start
    comes at a later sync. A pass in between moves the cursor on; the run must still be billed."""
    from tenantry.automations import services as automations
    from tenantry.automations.backends.base import Execution
    from tenantry.instances.models import Status

    listed: list[Execution] = [Execution(id="q1", workflow_id="w", status="new", mode="trigger",
                                         started_at=None, stopped_at=None)]

    class App:
        def executions(self):
            return listed

        def workflows(self):
            return []

    monkeypatch.setattr(automations, "automation_for", lambda instance: App())
    instance.status = Status.RUNNING
    assert automations.executions_sync(instance=instance) == 1
    ExecutionRecord.objects.filter(external_id="q1").update(created_at=T0, updated_at=T0)  # copied long ago
    ExecutionRecord.objects.create(instance=instance, external_id="done", workflow_id="w", status="success",
                                   started_at=T0 + timedelta(hours=1))
    assert collect_executions().events == 1  # the finished one; the queued one is not billable yet

    started = datetime.now(UTC).replace(microsecond=0)
    listed[0] = Execution(id="q1", workflow_id="w", status="success", mode="trigger", started_at=started,
                          stopped_at=started + timedelta(seconds=2))
    assert automations.executions_sync(instance=instance) == 1
    assert collect_executions().events == 1
    event = UsageEvent.objects.get(transaction_id=f"exec:{ExecutionRecord.objects.get(external_id='q1').pk}")
    assert event.timestamp == started
    assert collect_executions().events == 0
