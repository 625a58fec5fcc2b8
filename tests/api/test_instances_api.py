"""The REST API: auth, every endpoint, error shapes and codes, idempotency, OpenAPI."""

from __future__ import annotations

import pytest
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create, api_key_revoke
from tenantry.accounts.services.teams import operator_team
from tenantry.instances.models import Instance, OperationKind
from tenantry.instances.operations import create_operation

pytestmark = [pytest.mark.docker]


@pytest.fixture()
def api(platform):
    issued = api_key_create(team=operator_team(), name="tests")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    client.token = issued  # type: ignore[attr-defined]
    return client


def _post(client, path, data=None, **extra):
    return client.post(f"/api/v1{path}", data=data or {}, content_type="application/json", **extra)


def test_token_is_required_and_checked(platform):
    assert Client().get("/api/v1/instances").status_code == 401
    assert Client().post("/api/v1/instances", {}, content_type="application/json").status_code == 401
    body = Client(HTTP_AUTHORIZATION="Bearer tn_nope_nope").get("/api/v1/instances").json()
    assert body["code"] == "unauthorized"
    issued = api_key_create(team=operator_team(), name="short-lived")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    assert client.get("/api/v1/instances").status_code == 200
    api_key_revoke(team=operator_team(), prefix=issued.key.prefix)
    assert client.get("/api/v1/instances").status_code == 401


def test_create_show_list_and_operations(api, platform):
    response = _post(api, "/instances", {"slug": "via-api", "app": "hello"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["instance"]["slug"] == "via-api"
    assert body["instance"]["url"].startswith("http://via-api.localhost:")
    assert body["operation"]["kind"] == "provision"
    assert body["operation"]["steps"][0]["name"] == "route_to_edge"

    shown = api.get("/api/v1/instances/via-api").json()
    assert shown["status"] == "running" and shown["active_operation"] is None
    assert api.get(f"/api/v1/instances/{shown['id']}").json()["slug"] == "via-api"
    listing = api.get("/api/v1/instances").json()
    assert listing["count"] == 1 and [i["slug"] for i in listing["items"]] == ["via-api"]

    operations = api.get("/api/v1/instances/via-api/operations").json()
    assert operations[0]["status"] == "succeeded" and operations[0]["progress"] == 1.0
    assert all(s["status"] == "succeeded" and s["finished_at"] for s in operations[0]["steps"])
    one = api.get(f"/api/v1/operations/{operations[0]['id']}").json()
    assert one["id"] == operations[0]["id"]
    platform.wait_for_body("via-api.localhost", "Hello from via-api")


def test_lifecycle_actions(api, platform):
    _post(api, "/instances", {"slug": "driven", "app": "hello"})
    for action, status in [("stop", "stopped"), ("start", "running"), ("restart", "running"),
                           ("hibernate", "hibernated"), ("wake", "running")]:
        response = _post(api, f"/instances/driven/{action}")
        assert response.status_code == 202, (action, response.content)
        assert response.json()["kind"] == action
        assert api.get("/api/v1/instances/driven").json()["status"] == status, action
    deleted = api.delete("/api/v1/instances/driven")
    assert deleted.status_code == 202 and deleted.json()["kind"] == "delete"
    assert api.get("/api/v1/instances/driven").status_code == 404
    assert api.get("/api/v1/instances").json() == {"items": [], "count": 0}


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"slug": "www", "app": "hello"}, 422, "reserved_slug"),
    ({"slug": "Not OK", "app": "hello"}, 422, "invalid_slug"),
    ({"slug": "fine-name", "app": "nope"}, 404, "unknown_app"),
    ({"slug": "fine-name", "app": "erpnext"}, 422, "image_missing"),
    ({"slug": "fine-name", "app": "hello", "memory_mb": 1}, 422, "invalid_input"),
    ({"slug": "fine-name"}, 422, "invalid_input"),
    ({"slug": "fine-name", "app": "hello", "cpus": "lots"}, 422, "invalid_input"),
])
def test_bad_create_requests_get_a_stable_code_and_write_nothing(api, payload, status, code):
    response = _post(api, "/instances", payload)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["message"] and isinstance(body["details"], dict)
    assert Instance.objects.count() == 0


def test_conflicts_and_missing(api, platform):
    _post(api, "/instances", {"slug": "clash", "app": "hello"})
    duplicate = _post(api, "/instances", {"slug": "clash", "app": "hello"})
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "slug_taken"
    assert _post(api, "/instances/clash/wake").json()["code"] == "invalid_state"
    instance = Instance.objects.get(slug="clash")
    from django.db import transaction

    with transaction.atomic():
        create_operation(instance=instance, kind=OperationKind.RESTART, actor="test")
        busy = _post(api, "/instances/clash/stop")
        transaction.set_rollback(True)
    assert busy.status_code == 409 and busy.json()["code"] == "operation_in_progress"
    assert api.get("/api/v1/instances/nobody").json()["code"] == "instance_not_found"
    assert api.get("/api/v1/operations/not-a-uuid").status_code == 404


def test_idempotency_key_replays_the_first_answer(api, platform):
    first = _post(api, "/instances", {"slug": "once", "app": "hello"}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _post(api, "/instances", {"slug": "once", "app": "hello"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["instance"]["id"] == again.json()["instance"]["id"]
    assert Instance.objects.filter(slug="once").count() == 1
    other = _post(api, "/instances", {"slug": "twice", "app": "hello"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_retry_endpoint(api, platform, settings):
    _post(api, "/instances", {"slug": "retried", "app": "hello"})
    _post(api, "/instances/retried/stop")
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {"tenantry/hello:1": "tenantry/gone:1"}}
    failed = _post(api, "/instances/retried/start").json()
    assert failed["status"] == "failed" and failed["error_code"] == "image_missing"
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {}}
    retried = _post(api, f"/operations/{failed['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "succeeded"


def test_no_secret_in_api_answers_or_step_logs(api, platform):
    from tenantry.instances.secrets import instance_secret_values

    _post(api, "/instances", {"slug": "secretive", "app": "hello"})
    instance = Instance.objects.get(slug="secretive")
    token = instance_secret_values(instance)["greeting_token"]
    assert len(token) == 24
    stored = instance.secrets.get(name="greeting_token").ciphertext
    assert token not in stored  # encrypted at rest
    everything = (api.get("/api/v1/instances/secretive").content + api.get("/api/v1/instances/secretive/operations")
                  .content).decode()
    assert token not in everything


def test_catalog_and_openapi(api):
    apps = {a["name"]: a for a in api.get("/api/v1/apps").json()}
    assert {"hello", "n8n", "wordpress", "erpnext"} <= set(apps)
    assert "scheduler" in apps["erpnext"]["services"] and "db" in apps["erpnext"]["services"]
    assert api.get("/api/v1/apps/hello").json()["images"] == ["tenantry/hello:1"]
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/instances" in schema["paths"]
    assert "/api/v1/instances/{ref}/hibernate" in schema["paths"]


def test_listing_is_paginated(api, platform):
    for slug in ("page-a", "page-b", "page-c"):
        assert _post(api, "/instances", {"slug": slug, "app": "hello"}).status_code == 202
    first = api.get("/api/v1/instances?limit=2").json()
    rest = api.get("/api/v1/instances?limit=2&offset=2").json()
    assert first["count"] == rest["count"] == 3
    assert [i["slug"] for i in first["items"] + rest["items"]] == ["page-a", "page-b", "page-c"]
