"""Every API endpoint is scoped to the key's team: team B's instances and operations are 404 for
team A, and a read-only key cannot change anything."""

from __future__ import annotations

import pytest
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import team_create
from tenantry.instances.models import Instance, Operation
from tests.billing.entitlement_helpers import subscribe
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker]


def _client(team, scope="write") -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k', scope=scope).plaintext}")


def _call(client: Client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    if method == "DELETE":
        return client.delete(path)
    return client.post(path, data={}, content_type="application/json")


@pytest.fixture()
def two_teams(platform):
    a = team_create(name="Team A", owner=None, actor="test")
    b = team_create(name="Team B", owner=None, actor="test")
    subscribe(a)
    subscribe(b)
    b_instance, b_operation = create("b-private", team=b)
    return a, b, b_instance, b_operation


def _endpoints(instance: Instance, operation: Operation) -> list[tuple[str, str]]:
    refs = [instance.slug, str(instance.id)]
    calls = []
    for ref in refs:
        calls += [("GET", f"/api/v1/instances/{ref}"), ("GET", f"/api/v1/instances/{ref}/operations"),
                  ("DELETE", f"/api/v1/instances/{ref}")]
        calls += [("POST", f"/api/v1/instances/{ref}/{action}")
                  for action in ("start", "stop", "restart", "hibernate", "wake")]
    calls += [("GET", f"/api/v1/operations/{operation.id}"), ("POST", f"/api/v1/operations/{operation.id}/retry")]
    return calls


def test_another_teams_instance_is_not_found_on_every_endpoint(two_teams):
    team_a, team_b, b_instance, b_operation = two_teams
    client = _client(team_a)
    calls = _endpoints(b_instance, b_operation)
    assert len(calls) == 18
    for method, path in calls:
        response = _call(client, method, path)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["code"] in ("instance_not_found", "operation_not_found")
    listing = client.get("/api/v1/instances").json()
    assert listing == {"items": [], "count": 0}
    # nothing happened to team B's instance
    assert Operation.objects.filter(instance=b_instance).count() == 1
    assert Instance.objects.get(pk=b_instance.pk).status == "running"
    # and team B's own key sees it
    assert _client(team_b).get("/api/v1/instances/b-private").status_code == 200


def test_same_slug_namespace_is_global_but_ownership_is_not(two_teams):
    team_a, _, _, _ = two_teams
    taken = _client(team_a).post("/api/v1/instances", {"slug": "b-private", "app": "hello"},
                                 content_type="application/json")
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"


def test_read_only_key_reads_but_cannot_write(two_teams):
    _, team_b, b_instance, b_operation = two_teams
    reader = _client(team_b, scope="read")
    assert reader.get("/api/v1/instances/b-private").status_code == 200
    assert reader.get(f"/api/v1/operations/{b_operation.id}").status_code == 200
    for method, path in _endpoints(b_instance, b_operation):
        if method == "GET":
            continue
        response = _call(reader, method, path)
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "forbidden"
    created = reader.post("/api/v1/instances", {"slug": "nope-ro", "app": "hello"}, content_type="application/json")
    assert created.status_code == 403
    assert Operation.objects.filter(instance=b_instance).count() == 1
