"""When a provisioning routes the address to the app (issue 15): an app with nothing to set up
after its health check is routed as soon as its containers run, so the proxy's reload overlaps
its boot; an app with first-start tasks only once they ran (its setup page must not be reachable
before)."""

from __future__ import annotations

import pytest

from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import OperationStatus
from tenantry.instances.steps import STEPS, StepContext
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker]


@pytest.fixture()
def route_while_booting(monkeypatch) -> list[str | None]:
    """The upstream the address routes to when the app's health check begins (None: the edge)."""
    seen: list[str | None] = []
    original = STEPS["wait_healthy"]

    def recording(ctx: StepContext) -> None:
        route = ctx.routing.current(str(ctx.instance.id))
        seen.append(route.upstream if route else "no route")
        original(ctx)

    monkeypatch.setitem(STEPS, "wait_healthy", recording)
    return seen


def test_an_app_without_first_start_tasks_is_routed_while_it_boots(platform, route_while_booting):
    instance, operation = create("earlyroute")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert route_while_booting == [build_deployment(instance).upstream_url]
    assert "Hello from earlyroute" in platform.get(instance.host).text


def test_an_app_with_first_start_tasks_is_not_routed_before_they_ran(platform, route_while_booting):
    instance, operation = create("lateroute", app="brokenhook")
    assert operation.status == OperationStatus.FAILED
    assert route_while_booting == [None]  # the edge's "being set up" page
    # and after the failure, still the edge (its "unavailable" page), never the app
    platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "failed")
