"""Customers read their own instance's app logs: the runtime's read_logs against real
containers (tail, cursor, a missing container), then the API and the dashboard on top — the
latest lines, a service filter, following with a long poll, secrets replaced by ***, and another
team's instance a 404 everywhere."""

from __future__ import annotations

import threading
import time

import pytest
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import team_create
from tenantry.instances.deployment import build_deployment
from tenantry.instances.secrets import instance_secret_values
from tenantry.runtime.backends.base import MAX_LOG_LINES
from tenantry.runtime.backends.docker_observe import parse_timestamp_ns
from tenantry.runtime.registry import runtime_for
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker]


def write_log(instance, text: str) -> None:
    """Make the app's container print a line (to its init's stdout: what the engine logs)."""
    runtime = runtime_for(instance.server)
    result = runtime.exec(build_deployment(instance), "web", ["sh", "-c", f"echo \"{text}\" > /proc/1/fd/1"])
    assert result.exit_code == 0, result.output


@pytest.fixture()
def two_teams(platform):
    a = team_create(name="Team A", owner=None, actor="test")
    b = team_create(name="Team B", owner=None, actor="test")
    subscribe(a)
    subscribe(b)
    a_instance, _ = create("a-logs", team=a)
    b_instance, _ = create("b-logs", team=b)
    return a, b, a_instance, b_instance


def _api(team) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")


def test_parse_timestamp_ns():
    assert parse_timestamp_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_timestamp_ns("2026-12-02T10:30:00.123456789Z") % 1_000_000_000 == 123456789
    assert parse_timestamp_ns("2026-12-02T11:30:00.000000001+01:00") == parse_timestamp_ns(
        "2026-12-02T10:30:00.000000001Z")
    assert parse_timestamp_ns("not-a-time") is None
    assert parse_timestamp_ns("2026-12-02T10:30:00.12x4Z") is None


def test_runtime_reads_tail_and_after_a_cursor(two_teams):
    _a, _b, instance, _other = two_teams
    runtime = runtime_for(instance.server)
    deployment = build_deployment(instance)
    first = runtime.read_logs(deployment, "web", tail=50)
    assert any("hello: serving a-logs" in line.text for line in first)
    assert all(line.service == "web" for line in first)
    cursor = first[-1].at_ns
    assert runtime.read_logs(deployment, "web", after_ns=cursor) == []
    for n in range(3):
        write_log(instance, f"line {n}")
    later = runtime.read_logs(deployment, "web", after_ns=cursor)
    assert [line.text for line in later] == ["line 0", "line 1", "line 2"]
    assert [line.at_ns for line in later] == sorted(line.at_ns for line in later) and later[0].at_ns > cursor
    assert [line.text for line in runtime.read_logs(deployment, "web", tail=2)] == ["line 1", "line 2"]
    # Bounded whatever is asked.
    assert len(runtime.read_logs(deployment, "web", tail=MAX_LOG_LINES * 10)) <= MAX_LOG_LINES
    runtime.remove_containers(deployment.instance_id)
    assert runtime.read_logs(deployment, "web") == []


def test_api_tail_filter_redaction_and_follow(two_teams):
    team_a, _b, instance, _other = two_teams
    api = _api(team_a)
    token = instance_secret_values(instance)["greeting_token"]
    write_log(instance, "token is $HELLO_TOKEN and more")

    body = api.get("/api/v1/instances/a-logs/logs?tail=20").json()
    assert body["services"] == ["web"]
    texts = [line["text"] for line in body["lines"]]
    assert "token is *** and more" in texts
    assert token not in api.get("/api/v1/instances/a-logs/logs").content.decode()
    assert body["lines"][-1]["service"] == "web" and body["lines"][-1]["at"].startswith("20")
    assert len(api.get("/api/v1/instances/a-logs/logs?tail=1").json()["lines"]) == 1
    assert api.get("/api/v1/instances/a-logs/logs?service=web").json()["lines"][-1]["text"] == texts[-1]

    unknown = api.get("/api/v1/instances/a-logs/logs?service=db")
    assert unknown.status_code == 404 and unknown.json()["code"] == "service_not_found"
    for bad in ("tail=0", f"tail={MAX_LOG_LINES + 1}", "wait=999", "after=12ab"):
        response = api.get(f"/api/v1/instances/a-logs/logs?{bad}")
        assert response.status_code == 422, bad
        assert response.json()["code"] in ("invalid_input", "invalid_cursor"), bad

    # Follow: nothing new returns the same cursor at once; a long poll returns a line written meanwhile.
    cursor = body["cursor"]
    quiet = api.get(f"/api/v1/instances/a-logs/logs?after={cursor}").json()
    assert quiet["lines"] == [] and quiet["cursor"] == cursor
    timer = threading.Timer(1.0, write_log, args=(instance, "arrived while waiting"))
    timer.start()
    started = time.monotonic()
    followed = api.get(f"/api/v1/instances/a-logs/logs?after={cursor}&wait=20").json()
    timer.join()
    assert 0.9 < time.monotonic() - started < 15
    assert [line["text"] for line in followed["lines"]] == ["arrived while waiting"]
    assert int(followed["cursor"]) > int(cursor)


def test_another_teams_logs_are_not_found(two_teams):
    team_a, team_b, a_instance, b_instance = two_teams
    write_log(b_instance, "team b private line")
    api = _api(team_a)
    for ref in (b_instance.slug, str(b_instance.id)):
        response = api.get(f"/api/v1/instances/{ref}/logs")
        assert response.status_code == 404 and response.json()["code"] == "instance_not_found"
        assert "private" not in response.content.decode()
    user = make_user("alice@example.com", team=team_a)
    browser = signed_in(user)
    slug = team_a.slug
    assert browser.get(f"/t/{slug}/instances/b-logs/logs/").status_code == 404
    assert browser.get(f"/t/{slug}/instances/b-logs/logs/follow/?after=0").status_code == 404
    # Nor through team B's URL, which alice is not a member of.
    assert browser.get(f"/t/{team_b.slug}/instances/b-logs/logs/").status_code == 404
    # Her own instance's logs, on the page and through the follow endpoint.
    page = browser.get(f"/t/{slug}/instances/a-logs/logs/")
    assert page.status_code == 200 and "hello: serving a-logs" in page.content.decode()
    write_log(a_instance, "for alice")
    followed = browser.get(f"/t/{slug}/instances/a-logs/logs/follow/?after=0&service=web").json()
    assert followed["lines"][-1]["text"] == "for alice"


def test_logs_of_an_instance_without_containers_say_why(two_teams):
    from tenantry.instances.models import Status

    team_a, _b, instance, _other = two_teams
    type(instance).objects.filter(pk=instance.pk).update(status=Status.ARCHIVED)
    response = _api(team_a).get("/api/v1/instances/a-logs/logs")
    assert response.status_code == 409 and response.json()["code"] == "logs_unavailable"
    user = make_user("bob@example.com", team=team_a)
    page = signed_in(user).get(f"/t/{team_a.slug}/instances/a-logs/logs/")
    assert page.status_code == 200 and "no containers to read logs from" in page.content.decode()
