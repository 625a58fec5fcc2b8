"""The pricing seed's nightly jobs: registered with Huey's periodic scheduler at their local times
in the operator's time zone (daylight saving followed), and what each job does, with a frozen
clock: hibernation of long-idle instances (real Docker), the clean-up, the 06:00 limit checks
and their emails (real SMTP)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from huey.contrib.djhuey import HUEY

import tenantry.backups.tasks
import tenantry.billing.tasks
import tenantry.metering.tasks
import tenantry.ops.tasks
import tenantry.privacy.tasks
from tenantry.accounts.models import User
from tenantry.accounts.services.teams import team_create
from tenantry.automations.models import LoginTicket
from tenantry.instances.models import Instance
from tenantry.metering.meters import TRAFFIC_OUT, builtin_meters
from tenantry.metering.models import CollectorGap, Granularity, UsageEvent, UsageRollup
from tenantry.metering.services.ingest import usage_record
from tenantry.ops.nightly import cleanup, hibernate_long_idle, limit_checks
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import wait_for
from tests.instances.helpers import create, fresh
from tests.metering.helpers import instance_row

# Huey registers periodic tasks when their module is imported (the consumer imports every app's).
TASK_MODULES = (tenantry.backups.tasks, tenantry.billing.tasks, tenantry.metering.tasks, tenantry.ops.tasks,
                tenantry.privacy.tasks)
NIGHTLY = {"nightly_hibernate_task": "02:00", "nightly_cleanup_task": "03:00", "collect_storage_task": "04:00",
           "addons_expire_task": "05:00", "nightly_limits_task": "06:00",
           # Housekeeping of other apps, on the same clock.
           "anonymise_old_audit_rows": "03:20", "drills_schedule_task": "03:30", "purge_deleted_teams": "03:40"}


def _due(utc: datetime) -> set[str]:
    """The nightly tasks Huey's scheduler runs at this minute (it passes naive UTC)."""
    return {task.name for task in HUEY.read_periodic(utc.replace(tzinfo=None))} & set(NIGHTLY)


@pytest.fixture()
def paris(settings):
    settings.TENANTRY_NIGHTLY = {**settings.TENANTRY_NIGHTLY, "TIME_ZONE": "Europe/Paris"}


def test_each_job_runs_at_its_local_time_in_the_operators_time_zone(paris, settings):
    # Winter: Paris is UTC+1. Every nightly job once a day, at its seed time on the Paris clock.
    day = datetime(2026, 1, 15, tzinfo=UTC)
    seen = {}
    for minute in range(24 * 60):
        for name in _due(day + timedelta(minutes=minute)):
            assert name not in seen, f"{name} ran twice"
            seen[name] = f"{(minute + 60) // 60 % 24:02d}:{minute % 60:02d}"
    assert seen == NIGHTLY
    # Summer: UTC+2, the same local times.
    assert _due(datetime(2026, 7, 15, 0, 0, tzinfo=UTC)) == {"nightly_hibernate_task"}
    assert _due(datetime(2026, 7, 15, 1, 0, tzinfo=UTC)) == {"nightly_cleanup_task"}
    assert _due(datetime(2026, 7, 15, 4, 0, tzinfo=UTC)) == {"nightly_limits_task"}
    # Another operator, another clock; and a moved job.
    settings.TENANTRY_NIGHTLY = {**settings.TENANTRY_NIGHTLY, "TIME_ZONE": "Africa/Dakar", "CLEANUP_AT": "03:50"}
    assert _due(datetime(2026, 1, 15, 2, 0, tzinfo=UTC)) == {"nightly_hibernate_task"}
    assert _due(datetime(2026, 1, 15, 3, 0, tzinfo=UTC)) == set()
    assert _due(datetime(2026, 1, 15, 3, 50, tzinfo=UTC)) == {"nightly_cleanup_task"}


@pytest.mark.docker
def test_02h00_hibernates_instances_idle_for_five_days(platform, settings):
    team = team_create(name="Sleepy", owner=None, actor="test")
    subscribe(team)
    idle, _ = create("idle", team=team)
    recent, _ = create("recent", team=team)
    pinned, _ = create("pinned", team=team)
    now = timezone.now()
    Instance.objects.filter(pk__in=[idle.pk, pinned.pk]).update(
        last_request_at=now - timedelta(days=5, minutes=1), running_since=now - timedelta(days=9))
    Instance.objects.filter(pk=recent.pk).update(last_request_at=now - timedelta(days=4, hours=23),
                                                 running_since=now - timedelta(days=9))
    Instance.objects.filter(pk=pinned.pk).update(hibernate_after_seconds=0)  # never hibernate
    assert hibernate_long_idle(now=now) == ["idle"]
    wait_for(lambda: fresh(idle).status == "hibernated", timeout=60, what="hibernated")
    assert fresh(recent).status == "running" and fresh(pinned).status == "running"
    assert fresh(idle).operations.filter(kind="hibernate", actor="nightly").exists()
    settings.TENANTRY_NIGHTLY = {**settings.TENANTRY_NIGHTLY, "HIBERNATE_IDLE_DAYS": 10}
    assert hibernate_long_idle(now=now + timedelta(days=4)) == []  # configurable: 10 days now


@pytest.mark.django_db
def test_03h00_cleanup_deletes_only_what_is_past_its_keeping_time():
    team = team_create(name="Tidy", owner=None, actor="test")
    instance = instance_row(team, "tidy")
    now = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
    meter = builtin_meters()[TRAFFIC_OUT]
    with time_machine.travel(now - timedelta(days=401), tick=False):
        usage_record(instance=instance, meter=meter, value=Decimal(700), transaction_id=f"t:{uuid.uuid4().hex}")
    with time_machine.travel(now - timedelta(days=399), tick=False):
        usage_record(instance=instance, meter=meter, value=Decimal(5), transaction_id=f"t:{uuid.uuid4().hex}")
    CollectorGap.objects.create(collector="traffic", instance=instance, started_at=now - timedelta(days=100),
                                ended_at=now - timedelta(days=91), error="old")
    kept_gap = CollectorGap.objects.create(collector="storage", instance=instance,
                                           started_at=now - timedelta(days=10), ended_at=now - timedelta(days=9),
                                           error="recent")
    open_gap = CollectorGap.objects.create(collector="cgroup", instance=instance,
                                           started_at=now - timedelta(days=200), error="still open")
    LoginTicket.objects.create(instance=instance, secret_hash="a" * 64, actor="t", expires_at=now - timedelta(days=2))
    LoginTicket.objects.create(instance=instance, secret_hash="b" * 64, actor="t",
                               expires_at=now - timedelta(hours=1))

    assert cleanup(now=now) == {"usage_events": 1, "collector_gaps": 1, "login_tickets": 1}
    assert list(UsageEvent.objects.values_list("value", flat=True)) == [Decimal(5)]
    # The deleted event's day is still in the daily rollup.
    day = (now - timedelta(days=401)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert UsageRollup.objects.get(granularity=Granularity.DAY, bucket_start=day).value == Decimal(700)
    assert set(CollectorGap.objects.values_list("pk", flat=True)) == {kept_gap.pk, open_gap.pk}
    assert LoginTicket.objects.count() == 1
    assert cleanup(now=now) == {"usage_events": 0, "collector_gaps": 0, "login_tickets": 0}


def test_06h00_limit_checks_email_the_thresholds_reached(transactional_db, mailbox, paris):
    owner = User.objects.create_user(email="limits@example.com", password="pw-Limits-123")
    team = team_create(name="Limits", owner=owner, actor="test")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        subscribe(team, traffic_gb_month=10)
        instance = instance_row(team, "limited")
        usage_record(instance=instance, meter=builtin_meters()[TRAFFIC_OUT], value=Decimal(8 * 10**9),
                     transaction_id="t:limits")
        clock.move_to(datetime(2026, 3, 3, 5, 0, tzinfo=UTC))  # 06:00 in Paris
        assert _due(timezone.now()) == {"nightly_limits_task"}, HUEY.read_periodic(
            timezone.now().replace(tzinfo=None))
        assert limit_checks() == 1
        message = mailbox.wait_for("limits@example.com")
        assert "80 %" in message["Subject"] and "limited" in message["Subject"]
        assert UsageRollup.objects.filter(granularity=Granularity.DAY, bucket_start=datetime(2026, 3, 2, tzinfo=UTC),
                                          instance=instance).exists()
        assert limit_checks() == 0  # once per period
