"""Limits counted inside a real n8n, enforced through the automation backend: past the plan's
active-workflow limit the newest activation is turned off; when the executions are used up and
the plan blocks, the workflows are paused until the next period and reactivated then; the
customer is told each time (real SMTP), activations over the limits are refused with their code."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine

from tenantry.accounts.models import User
from tenantry.accounts.services.teams import team_create
from tenantry.automations.services import executions_sync, workflow_set_active, workflows_list
from tenantry.billing.services import billing_run
from tenantry.core.errors import ApplicationError
from tenantry.core.models import AuditEvent
from tenantry.instances.models import OperationStatus, Status
from tenantry.instances.secrets import instance_outputs
from tenantry.metering.collectors.executions import collect_executions
from tenantry.metering.services.quotas import quota_check_team
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import wait_for
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]


def _told(mailbox, address: str, text: str) -> str:
    found = wait_for(lambda: [t for m in mailbox.to(address) if text in (t := mailbox.text(m))], timeout=20,
                     what=f"an email saying {text!r}")
    assert len(found) == 1, found
    return found[0]


def _active(instance) -> dict[str, bool]:
    return {w.name: w.active for w in workflows_list(instance=instance)}


def test_workflow_limits_inside_n8n(platform, mailbox, settings):
    # Not a test of start-up speed: n8n may boot slowly on a machine shared with other runs.
    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 400}
    owner = User.objects.create_user(email="flows@example.com", password="pw-Flows-123")
    team = team_create(name="Flows", owner=owner, actor="test")
    subscription = subscribe(team, memory_mb=1024, cpus=1,
                             app_limits={"n8n": {"executions_month": 3, "active_workflows": 1}},
                             usage_policies={"executions": {"policy": "block"}})
    instance, operation = create("flows", app="n8n", team=team)
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.RUNNING
    assert _active(instance) == {"Echo": True}
    quota_check_team(team=team)  # Echo is seen active from here on: the oldest activation

    # The customer adds and activates a second workflow inside n8n (its own API, as its editor does).
    key = {"X-N8N-API-KEY": instance_outputs(instance)["api-key"]["key"]}
    second = platform.request("POST", instance.host, "/api/v1/workflows", headers=key, json={
        "name": "Second", "settings": {"executionOrder": "v1"}, "connections": {},
        "nodes": [{"parameters": {"httpMethod": "POST", "path": "second", "options": {}}, "name": "Webhook",
                   "type": "n8n-nodes-base.webhook", "typeVersion": 2, "position": [0, 0],
                   "webhookId": str(uuid.uuid4())}]})
    assert second.status_code == 200, second.text
    second_id = second.json()["id"]
    activated = platform.request("POST", instance.host, f"/api/v1/workflows/{second_id}/activate", headers=key)
    assert activated.status_code == 200, activated.text
    assert _active(instance) == {"Echo": True, "Second": True}

    # Past the limit of 1: the newest activation is turned off, Echo keeps running; the owner is told.
    quota_check_team(team=team)
    assert _active(instance) == {"Echo": True, "Second": False}
    assert "plan allows 1 active workflows" in _told(mailbox, owner.email, "Workflows deactivated on flows: Second")
    assert AuditEvent.objects.filter(action="workflows.deactivated_over_limit").count() == 1
    quota_check_team(team=team)  # nothing more to do, nothing more said
    assert AuditEvent.objects.filter(action="workflows.deactivated_over_limit").count() == 1
    # Through Tenantry, activating it is refused with its code.
    with pytest.raises(ApplicationError) as refused:
        workflow_set_active(instance=instance, workflow_id=second_id, active=True, actor="test")
    assert refused.value.code == "plan_limit_reached"

    # Executions used up (3 of 3) with a plan that blocks: every workflow paused until the period ends.
    for n in range(3):
        echo = platform.request("POST", instance.host, "/webhook/echo", json={"message": f"m{n}"})
        assert echo.status_code == 200 and echo.json() == {"echo": f"m{n}"}
    wait_for(lambda: executions_sync(instance=instance) >= 0 and instance.executions.count() >= 3, timeout=20,
             what="three executions copied")
    collect_executions()
    quota_check_team(team=team)
    assert _active(instance) == {"Echo": False, "Second": False}
    wait_for(lambda: platform.request("POST", instance.host, "/webhook/echo", json={}).status_code == 404,
             timeout=10, what="the paused webhook gone")
    until = f"{subscription.current_period_end:%Y-%m-%d}"
    assert "executions the plan includes" in _told(mailbox, owner.email, f"paused until {until}: Echo")
    with pytest.raises(ApplicationError) as refused:
        workflow_set_active(instance=instance, workflow_id=_ids(instance)["Echo"], active=True, actor="test")
    assert refused.value.code == "quota_exceeded"

    # The next period: Echo comes back (within the active limit), Second stays off; the owner is told.
    with time_machine.travel(subscription.current_period_end + timedelta(minutes=1), tick=True):
        billing_run()
        quota_check_team(team=team)
        assert _active(instance) == {"Echo": True, "Second": False}
        _told(mailbox, owner.email, "Workflows reactivated on flows: Echo")
    answer = wait_for(lambda: (r := platform.request("POST", instance.host, "/webhook/echo",
                                                     json={"message": "back"})).status_code == 200 and r,
                      timeout=10, what="the webhook back")
    assert answer.json() == {"echo": "back"}


def _ids(instance) -> dict[str, str]:
    return {w.name: w.id for w in workflows_list(instance=instance)}
