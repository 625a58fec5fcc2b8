"""POST /api/v1/instances answers what the team's plan allows, with each entitlement code and
its status, and bounds every number; nothing is written when it refuses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from tenantry.accounts.models import Team
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.billing.models import Subscription, SubscriptionStatus
from tenantry.instances.models import Instance, Status
from tenantry.runtime.placement import default_server
from tests.billing.billing_helpers import make_team
from tests.billing.entitlement_helpers import subscribe

pytestmark = [pytest.mark.django_db, pytest.mark.docker]


def _client(team: Team) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")


def _create(client: Client, **payload):
    return client.post("/api/v1/instances", data={"slug": "planned", "app": "hello", **payload},
                       content_type="application/json")


def _assert_error(response, status: int, code: str, slug: str = "planned") -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == code
    assert not Instance.objects.filter(slug=slug).exists()
    return body


def test_each_entitlement_code_through_the_api(docker_client):
    team = make_team("apiplan")
    client = _client(team)
    body = _assert_error(_create(client), 402, "plan_required")
    assert body["message"] == "Choose a plan to create instances."

    subscription = subscribe(team, allowed_apps=["hello"], max_instances=1, memory_mb=256, cpus=Decimal("0.5"))
    _assert_error(_create(client, app="wordpress"), 403, "app_not_in_plan")
    body = _assert_error(_create(client, memory_mb=512), 403, "size_over_plan")
    assert body["details"] == {"field": "memory_mb", "limit": 256, "asked": 512}
    _assert_error(_create(client, cpus=1), 403, "size_over_plan")

    Instance.objects.create(team=team, slug="apiplan-one", app="hello", server=default_server(), memory_mb=64,
                            cpus=Decimal("0.25"), pids=64, status=Status.RUNNING)
    body = _assert_error(_create(client), 409, "plan_limit_reached")
    assert body["details"] == {"max_instances": 1, "instances": 1}

    Instance.objects.filter(slug="apiplan-one").update(status=Status.DELETED)
    created = _create(client)
    assert created.status_code == 202, created.content
    assert created.json()["instance"]["memory_mb"] == 256

    Subscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.PAST_DUE)
    body = _assert_error(_create(client, slug="planned-again"), 402, "plan_required", slug="planned-again")
    assert body["details"] == {"subscription_status": "past_due"}


def test_the_operators_team_creates_beyond_any_plan(docker_client):
    response = _create(_client(operator_team()), memory_mb=4096, cpus=4)
    assert response.status_code == 202, response.content
    assert response.json()["instance"]["memory_mb"] == 4096


@pytest.mark.parametrize("payload", [
    {"hibernate_after_seconds": 2**40}, {"hibernate_after_seconds": -1}, {"hibernate_after_seconds": 10**30},
    {"memory_mb": 10**9}, {"memory_mb": 0}, {"cpus": 1e300}, {"cpus": -1}, {"pids": 2**63}, {"pids": 0},
    {"memory_mb": "lots"}, {"slug": "x" * 10_000},
])
def test_out_of_range_numbers_are_a_422_in_the_error_shape(docker_client, payload):
    body = _assert_error(_create(_client(operator_team()), **payload), 422, "invalid_input")
    assert body["details"]["errors"][0]["field"] == f"payload.{next(iter(payload))}"
