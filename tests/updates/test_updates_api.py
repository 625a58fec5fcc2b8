"""Rollouts through the API (operators only), the CLI and the operator console; maintenance
windows per team (a team sees and sets only its own); when a window is open."""

from __future__ import annotations

from datetime import datetime, time
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tenantry.accounts.models import ApiKeyScope, Team, User
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.updates.models import MaintenanceWindow, Rollout, RolloutStatus, TargetStatus
from tests.instances.helpers import create, fresh


def _client(team: Team, **kwargs) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k', **kwargs).plaintext}")


def _window(**kwargs) -> MaintenanceWindow:
    values = {"start_time": time(23, 0), "duration_minutes": 120, "weekdays": [], "timezone": "UTC", **kwargs}
    return MaintenanceWindow(**values)


def test_a_window_is_open_from_its_start_for_its_length_on_its_days_in_its_time_zone():
    utc = ZoneInfo("UTC")
    nightly = _window()
    assert nightly.is_open(datetime(2026, 3, 4, 23, 30, tzinfo=utc))
    assert nightly.is_open(datetime(2026, 3, 5, 0, 59, tzinfo=utc))  # past midnight, still open
    assert not nightly.is_open(datetime(2026, 3, 5, 1, 0, tzinfo=utc))
    assert not nightly.is_open(datetime(2026, 3, 4, 22, 59, tzinfo=utc))
    sundays = _window(weekdays=[6])  # 2026-03-08 is a Sunday
    assert sundays.is_open(datetime(2026, 3, 8, 23, 30, tzinfo=utc))
    assert sundays.is_open(datetime(2026, 3, 9, 0, 30, tzinfo=utc))  # Sunday's window, on Monday morning
    assert not sundays.is_open(datetime(2026, 3, 9, 23, 30, tzinfo=utc))
    paris = _window(start_time=time(2, 0), duration_minutes=60, timezone="Europe/Paris")
    assert paris.is_open(datetime(2026, 7, 1, 0, 30, tzinfo=utc))  # 02:30 in Paris (summer time)
    assert not paris.is_open(datetime(2026, 7, 1, 2, 30, tzinfo=utc))


@pytest.mark.django_db
def test_each_team_sets_and_sees_only_its_own_maintenance_window():
    alpha, beta = Team.objects.create(name="Alpha", slug="alpha"), Team.objects.create(name="Beta", slug="beta")
    a, b = _client(alpha), _client(beta)

    assert a.get("/api/v1/maintenance-window").json()["code"] == "maintenance_window_not_found"
    saved = a.put("/api/v1/maintenance-window", {"start_time": "02:00", "duration_minutes": 90, "weekdays": [5, 6],
                                                  "timezone": "Europe/Paris"}, content_type="application/json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["weekdays"] == [5, 6] and saved.json()["timezone"] == "Europe/Paris"
    assert a.get("/api/v1/maintenance-window").json()["duration_minutes"] == 90
    assert b.get("/api/v1/maintenance-window").status_code == 404  # beta has none; alpha's is not beta's
    assert MaintenanceWindow.objects.get().team == alpha

    bad = a.put("/api/v1/maintenance-window", {"start_time": "02:00", "duration_minutes": 90, "timezone": "Mars/Base"},
                content_type="application/json")
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "timezone"
    # an offset on a wall-clock time is refused with its field (it was a 500 on SQLite)
    offset = a.put("/api/v1/maintenance-window", {"start_time": "00:00:00Z", "duration_minutes": 30, "weekdays": [0],
                                                   "timezone": "UTC"}, content_type="application/json")
    assert offset.status_code == 422 and offset.json()["details"]["field"] == "start_time"
    read_only = _client(alpha, scope=ApiKeyScope.READ)
    assert read_only.delete("/api/v1/maintenance-window").status_code == 403
    assert a.delete("/api/v1/maintenance-window").status_code == 204
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.django_db
def test_only_the_operators_roll_out_versions():
    customer = _client(Team.objects.create(name="Customer", slug="customer"))
    refused = customer.post("/api/v1/rollouts", {"app": "hello", "to_version": "1", "percent": 50},
                            content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "operators_only"
    assert customer.get("/api/v1/rollouts").status_code == 403

    operators = _client(operator_team())
    unknown = operators.post("/api/v1/rollouts", {"app": "hello", "to_version": "9"}, content_type="application/json")
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_version"
    assert unknown.json()["details"]["known"] == ["1"]
    nothing = operators.post("/api/v1/rollouts", {"app": "hello", "to_version": "1"}, content_type="application/json")
    assert nothing.status_code == 422 and nothing.json()["code"] == "nothing_to_update"
    assert operators.get("/api/v1/rollouts/not-an-id").json()["code"] == "rollout_not_found"
    assert not Rollout.objects.exists()


@pytest.mark.docker
@pytest.mark.traefik
def test_update_through_the_api_and_the_version_the_api_shows(platform, versioned):
    instance, _ = create("viaapi", app="hellov")
    operators = _client(operator_team())
    assert operators.get("/api/v1/apps/hellov").json()["versions"] == ["1", "2", "3"]

    started = operators.post("/api/v1/rollouts", {"app": "hellov", "to_version": "2", "instances": ["viaapi"],
                                                  "respect_windows": False}, content_type="application/json")

    assert started.status_code == 202, started.content
    shown = operators.get(f"/api/v1/rollouts/{started.json()['id']}").json()
    assert shown["status"] == RolloutStatus.COMPLETED
    assert [(t["slug"], t["from_version"], t["status"]) for t in shown["targets"]] == [
        ("viaapi", "1", TargetStatus.SUCCEEDED)]
    assert operators.get("/api/v1/instances/viaapi").json()["app_version"] == "2"
    assert fresh(instance).app_version == "2"


@pytest.mark.docker
@pytest.mark.traefik
def test_cli_rolls_out_and_sets_windows(platform, versioned):
    create("clione", app="hellov")
    out = StringIO()
    call_command("updates", "window", "--start", "03:00", "--duration", "60", "--weekdays", "6", stdout=out)
    assert "operators: updates from 03:00 for 60 min" in out.getvalue()
    assert MaintenanceWindow.objects.get(team=operator_team()).weekdays == [6]

    out = StringIO()
    call_command("updates", "rollout", "hellov", "2", "--instance", "clione", "--now", stdout=out)
    assert "clione" in out.getvalue() and "succeeded" in out.getvalue()
    with pytest.raises(CommandError) as halted:
        call_command("updates", "rollout", "hellov", "3", "--all", "--now", stdout=StringIO())
    assert halted.value.returncode == 1 and "failed" in str(halted.value)
    with pytest.raises(CommandError) as unknown:
        call_command("updates", "rollout", "hellov", "7", "--all", stdout=StringIO())
    assert unknown.value.returncode == 2 and "unknown_version" in str(unknown.value)
    listing = StringIO()
    call_command("updates", "list", stdout=listing)
    assert "hellov → 3  halted" in listing.getvalue() and "hellov → 2  completed" in listing.getvalue()


@pytest.mark.django_db
def test_operator_console_starts_a_rollout_and_shows_the_refusal(client):
    staff = User.objects.create_user(email="ops@example.test", password="x" * 16, is_staff=True)
    client.force_login(staff)
    page = client.get("/operator/updates/")
    assert page.status_code == 200 and b"rollout-form" in page.content
    refused = client.post("/operator/updates/", {"app": "hello", "to_version": "1", "scope": "all",
                                                  "max_failures": 0, "concurrency": 1})
    assert refused.status_code == 200 and b"No instance of hello needs version 1" in refused.content
    customer = User.objects.create_user(email="cust@example.test", password="x" * 16)
    client.force_login(customer)
    assert client.get("/operator/updates/").status_code == 302  # to the admin login


@pytest.mark.django_db
def test_template_pushes_are_for_operators_and_name_what_exists():
    customer = _client(Team.objects.create(name="Customer", slug="customer"))
    refused = customer.post("/api/v1/apps/n8n/templates/echo/push", {}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "operators_only"

    operators = _client(operator_team())
    not_automation = operators.post("/api/v1/apps/hello/templates/echo/push", {}, content_type="application/json")
    assert not_automation.status_code == 422 and not_automation.json()["code"] == "not_supported"
    unknown = operators.post("/api/v1/apps/n8n/templates/nope/push", {}, content_type="application/json")
    assert unknown.status_code == 404 and unknown.json()["code"] == "template_not_found"
    assert "echo" in unknown.json()["details"]["known"]
    nobody = operators.post("/api/v1/apps/n8n/templates/echo/push", {}, content_type="application/json")
    assert nobody.status_code == 200 and nobody.json() == []
    out = StringIO()
    call_command("updates", "push-template", "n8n", "echo", stdout=out)
    assert "No instance has this template." in out.getvalue()


@pytest.mark.django_db
def test_the_dashboard_sets_the_window_for_managers_and_shows_it_to_members(client):
    from tenantry.accounts.models import Membership, Role

    team = Team.objects.create(name="Night", slug="night")
    other = Team.objects.create(name="Other", slug="other")
    owner = User.objects.create_user(email="owner@night.test", password="x" * 16)
    member = User.objects.create_user(email="member@night.test", password="x" * 16)
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    Membership.objects.create(team=team, user=member, role=Role.MEMBER)
    client.force_login(owner)
    url = "/t/night/maintenance/"
    assert b"No window: updates may happen at any time." in client.get(url).content

    saved = client.post(url, {"start_time": "01:30", "duration_minutes": 90, "weekdays": ["5", "6"],
                              "timezone": "Europe/Paris"})
    assert saved.status_code == 302
    window = MaintenanceWindow.objects.get(team=team)
    assert (window.start_time, window.duration_minutes, window.weekdays) == (time(1, 30), 90, [5, 6])
    bad = client.post(url, {"start_time": "01:30", "duration_minutes": 90, "timezone": "Nowhere/City"})
    assert b"Unknown time zone" in bad.content
    assert client.get("/t/other/maintenance/").status_code == 404  # not a member of that team
    assert not MaintenanceWindow.objects.filter(team=other).exists()

    client.force_login(member)
    page = client.get(url)
    assert b"From 01:30 for 90 minutes (Europe/Paris)." in page.content and b"window-form" not in page.content
    assert client.post(url, {"clear": "1"}).status_code == 404
    client.force_login(owner)
    client.post(url, {"clear": "1"})
    assert not MaintenanceWindow.objects.exists()
