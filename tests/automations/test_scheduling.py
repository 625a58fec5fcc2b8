"""The wake plan for scheduled workflows (stored triggers, real Docker instances), the team's
time zone through the API and the dashboard, and the schedules endpoint's team scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from tenantry.accounts.models import Role
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import team_create
from tenantry.automations.models import ScheduleTrigger
from tenantry.automations.scheduling import schedule_holds_awake, wake_for_schedules
from tenantry.catalog.registry import get_app
from tenantry.core.models import AuditEvent
from tenantry.instances.deployment import template_context
from tenantry.instances.models import Status
from tenantry.instances.services import instance_hibernate
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create, fresh, last_operation

# Monday 2026-03-30 02:00 in Paris (CEST) is 00:00 UTC.
MONDAY_RUN = datetime(2026, 3, 30, 0, 0, tzinfo=UTC)


def _client(team, scope="write") -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k', scope=scope).plaintext}")


def _trigger(instance, expression="0 2 * * 1", zone="Europe/Paris") -> ScheduleTrigger:
    return ScheduleTrigger.objects.create(instance=instance, workflow_id="wf1", workflow_name="SEO 1", node="Monday",
                                          expressions=[expression], time_zone=zone)


@pytest.mark.docker
def test_hibernated_instance_is_woken_within_the_lead_of_its_next_run_only(platform, settings):
    settings.TENANTRY = {**settings.TENANTRY, "SCHEDULE_WAKE_LEAD_SECONDS": 120}
    sleeper, _ = create("sleeper")
    plain, _ = create("plain")  # hibernated too, without schedules: never woken by the plan
    for instance in (sleeper, plain):
        instance_hibernate(instance=instance, actor="test")
        assert fresh(instance).status == Status.HIBERNATED
    _trigger(sleeper)

    assert wake_for_schedules(now=MONDAY_RUN - timedelta(minutes=10)) == []
    assert fresh(sleeper).status == Status.HIBERNATED
    assert wake_for_schedules(now=MONDAY_RUN - timedelta(seconds=100)) == ["sleeper"]
    assert fresh(sleeper).status == Status.RUNNING
    assert last_operation(sleeper).actor == "schedule"
    audit = AuditEvent.objects.get(action="instance.schedule_wake")
    assert audit.data["next_run"] == MONDAY_RUN.isoformat()
    assert fresh(plain).status == Status.HIBERNATED
    # Awake already: a second pass does nothing.
    assert wake_for_schedules(now=MONDAY_RUN - timedelta(seconds=90)) == []

    # It stays up for the run and for the idle time after it, then may hibernate again.
    idle = timedelta(minutes=5)
    assert schedule_holds_awake(instance=sleeper, now=MONDAY_RUN - timedelta(seconds=60), idle=idle)
    assert schedule_holds_awake(instance=sleeper, now=MONDAY_RUN + timedelta(minutes=4), idle=idle)
    assert not schedule_holds_awake(instance=sleeper, now=MONDAY_RUN + timedelta(minutes=6), idle=idle)


@pytest.mark.docker
def test_team_time_zone_through_the_api_and_schedules_scoped_to_the_team(platform):
    team_a = team_create(name="Team A", owner=None, actor="test")
    team_b = team_create(name="Team B", owner=None, actor="test")
    subscribe(team_b)
    b_instance, _ = create("b-sched", team=team_b)
    _trigger(b_instance)

    writer = _client(team_b)
    assert writer.get("/api/v1/team").json() == {"name": "Team B", "slug": team_b.slug, "time_zone": "UTC"}
    changed = writer.patch("/api/v1/team", {"time_zone": "Europe/Paris"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["time_zone"] == "Europe/Paris"
    assert AuditEvent.objects.filter(action="team.time_zone", data__to="Europe/Paris").count() == 1
    bad = writer.patch("/api/v1/team", {"time_zone": "Europe/Atlantis"}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_time_zone"
    reader = _client(team_b, scope="read")
    refused = reader.patch("/api/v1/team", {"time_zone": "UTC"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    team_b.refresh_from_db()
    assert team_b.time_zone == "Europe/Paris"
    # The deployment hands the team's zone to the app (n8n's GENERIC_TIMEZONE).
    assert template_context(fresh(b_instance), get_app("n8n"))["instance"]["time_zone"] == "Europe/Paris"

    schedules = reader.get("/api/v1/instances/b-sched/schedules")
    assert schedules.status_code == 200
    [row] = schedules.json()
    assert row["workflow_name"] == "SEO 1" and row["expressions"] == ["0 2 * * 1"]
    assert row["time_zone"] == "Europe/Paris"
    next_run = datetime.fromisoformat(row["next_fire_at"].replace("Z", "+00:00"))
    local = next_run.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.weekday(), local.hour, local.minute) == (0, 2, 0) and next_run > datetime.now(UTC)
    # Another team's instance is not found.
    other = _client(team_a).get("/api/v1/instances/b-sched/schedules")
    assert other.status_code == 404 and other.json()["code"] == "instance_not_found"


@pytest.mark.django_db
def test_team_time_zone_in_the_dashboard_for_managers_only():
    owner = make_user("owner@tz.test")
    team = owner.memberships.get().team
    member = make_user("member@tz.test", team=team, role=Role.MEMBER)
    url = reverse("dashboard:team_time_zone", args=[team.slug])

    page = signed_in(owner).get(reverse("dashboard:team", args=[team.slug]))
    assert b'name="time_zone"' in page.content
    saved = signed_in(owner).post(url, {"time_zone": "Africa/Dakar"})
    assert saved.status_code == 302
    team.refresh_from_db()
    assert team.time_zone == "Africa/Dakar"
    wrong = signed_in(owner).post(url, {"time_zone": "Nowhere/Land"}, follow=True)
    assert "Unknown time zone" in wrong.content.decode()
    assert signed_in(member).post(url, {"time_zone": "UTC"}).status_code in (403, 404)
    assert b'name="time_zone"' not in signed_in(member).get(reverse("dashboard:team", args=[team.slug])).content
    team.refresh_from_db()
    assert team.time_zone == "Africa/Dakar"
