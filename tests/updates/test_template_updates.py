"""Workflow template updates on real n8n: v2 of the `echo` template pushed to a running instance
→ its webhook answers v2's output, with the customer's credential and active state kept;
rollback → v1's output again."""

from __future__ import annotations

import copy
import json

import pytest
from django.conf import settings as django_settings

from tenantry.automations.services import automation_for
from tenantry.catalog.registry import BUILTIN_DIR, reload_catalog
from tenantry.instances.models import OperationStatus, Status
from tenantry.instances.secrets import instance_outputs
from tenantry.updates.models import InstanceTemplate
from tenantry.updates.templates import template_push, template_rollback, template_version
from tests.conftest import wait_for
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]

HEADER = {"X-Echo-Key": "customer-chosen-value"}


def _echo_v2() -> dict:
    """The catalog's next version: the answer says which version made it, and the webhook checks
    a header credential (the customer chooses which one in n8n; the template names none)."""
    body = copy.deepcopy(json.loads((BUILTIN_DIR / "n8n.templates" / "echo.json").read_text()))
    webhook, echo = body["nodes"]
    webhook["parameters"]["authentication"] = "headerAuth"
    echo["parameters"]["assignments"]["assignments"][0]["value"] = "=v2: {{ $json.body.message }}"
    return body


def _n8n(platform, instance, method: str, path: str, **kwargs):
    return platform.request(method, instance.host, path,
                            headers={"X-N8N-API-KEY": instance_outputs(instance)["api-key"]["key"]}, **kwargs)


def _echo(platform, instance, message: str):
    return platform.request("POST", instance.host, "/webhook/echo", json={"message": message}, headers=HEADER)


def test_a_new_template_version_is_pushed_keeping_credentials_and_rolled_back(platform, settings, tmp_path):
    # n8n's first start takes long on a loaded machine: this test is about what comes after.
    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 300}
    instance, operation = create("tplflows", app="n8n")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    instance = fresh(instance)
    assert instance.status == Status.RUNNING
    assert _echo(platform, instance, "hi").json() == {"echo": "hi"}  # v1
    workflow_id = str(instance_outputs(instance)["workflows"][0]["id"])

    # The customer gave the webhook a header credential in n8n's editor.
    credential = _n8n(platform, instance, "POST", "/api/v1/credentials",
                      json={"name": "Echo key", "type": "httpHeaderAuth",
                            "data": {"name": "X-Echo-Key", "value": HEADER["X-Echo-Key"]}})
    assert credential.status_code == 200, credential.text
    current = _n8n(platform, instance, "GET", f"/api/v1/workflows/{workflow_id}").json()
    for node in current["nodes"]:
        if node["type"] == "n8n-nodes-base.webhook":
            node["credentials"] = {"httpHeaderAuth": {"id": credential.json()["id"], "name": "Echo key"}}
    automation_for(instance).replace_workflow(workflow_id, current)

    # v2 arrives in the operator's catalog directory (same name: it overrides the built-in one).
    (tmp_path / "n8n.templates").mkdir()
    (tmp_path / "n8n.templates" / "echo.json").write_text(json.dumps(_echo_v2()))
    settings.TENANTRY = {**settings.TENANTRY,
                         "CATALOG_DIRS": [*django_settings.TENANTRY["CATALOG_DIRS"], str(tmp_path)]}
    reload_catalog()

    [result] = template_push(app="n8n", name="echo", actor="test")

    assert result.ok and result.instance == "tplflows", result.message
    assert result.version == template_version(_echo_v2())
    answer = wait_for(lambda: (r := _echo(platform, instance, "hi")).status_code == 200
                      and r.json() == {"echo": "v2: hi"} and r, timeout=20, what="v2's answer")
    assert answer.json() == {"echo": "v2: hi"}
    # The credential came along (v2 names none): without the header the webhook refuses.
    assert platform.request("POST", instance.host, "/webhook/echo", json={"message": "x"}).status_code == 403
    pushed = _n8n(platform, instance, "GET", f"/api/v1/workflows/{workflow_id}").json()
    assert pushed["active"] is True
    webhook = next(n for n in pushed["nodes"] if n["type"] == "n8n-nodes-base.webhook")
    assert webhook["credentials"]["httpHeaderAuth"]["id"] == credential.json()["id"]
    record = InstanceTemplate.objects.get(instance=instance, name="echo")
    assert record.version == result.version and record.previous_definition["name"] == "Echo"
    # Pushing the same version again changes nothing.
    [again] = template_push(app="n8n", name="echo", actor="test")
    assert again.ok and again.message == "already on this version"

    template_rollback(instance=instance, name="echo", actor="test")

    wait_for(lambda: _echo(platform, instance, "back").json() == {"echo": "back"}, timeout=20, what="v1's answer")
    rolled = InstanceTemplate.objects.get(instance=instance, name="echo")
    assert rolled.previous_version == result.version  # and v2 is kept, to go forward again
    assert _n8n(platform, instance, "GET", f"/api/v1/workflows/{workflow_id}").json()["active"] is True
