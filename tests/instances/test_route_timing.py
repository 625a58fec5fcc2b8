"""When a provisioning routes the address to the app (issue 15): only once the app may serve
(healthy, its first-start tasks run). Until then the address leads to the edge, which holds a
machine's calls and hands them to the app at that moment (tests/edge/test_first_call.py), so the
proxy's reload need not overlap the boot: routing earlier made the proxy answer 502 while an app
booted, and an app's setup page reachable before its first-start tasks ran."""

from __future__ import annotations

import pytest

from tenantry.instances import services
from tenantry.instances.models import OperationStatus
from tenantry.instances.steps import STEPS, StepContext
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker]


@pytest.fixture()
def route_while_booting(monkeypatch) -> list[str | None]:
    """The upstream the address routes to when the app's health check begins (None: a route to
    the edge; "no route": none of its own, the proxy's catch-all leads to the edge)."""
    seen: list[str | None] = []
    original = STEPS["wait_healthy"]

    def recording(ctx: StepContext) -> None:
        route = ctx.routing.current(str(ctx.instance.id))
        seen.append(route.upstream if route else "no route")
        original(ctx)

    monkeypatch.setitem(STEPS, "wait_healthy", recording)
    return seen


def test_an_app_is_not_routed_while_it_boots(platform, route_while_booting):
    instance, operation = create("lateroute")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert route_while_booting == ["no route"]  # the edge's (through the catch-all: no TLS in tests)
    assert "Hello from lateroute" in platform.get(instance.host).text


def test_an_app_with_first_start_tasks_is_not_routed_before_they_ran(platform, route_while_booting):
    instance, operation = create("brokenroute", app="brokenhook")
    assert operation.status == OperationStatus.FAILED
    assert route_while_booting == ["no route"]  # the edge's "being set up" page
    # and after the failure, still the edge (its "unavailable" page), never the app
    platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "failed")


def test_a_delete_confirms_its_route_is_gone_after_the_docker_steps_not_before(platform, docker_client,
                                                                               monkeypatch):
    """The proxy's reload (up to seconds with a thousand routes) overlaps the deletion's Docker
    work instead of holding a worker thread before it; the address still stops answering by the
    time the operation ends."""
    from tenantry.routing.backends.traefik import TraefikRouting
    from tests.conftest import installation_resources

    instance, _ = create("quickgone")
    left_when_waiting: list[list[str]] = []
    original = TraefikRouting.wait_removed

    def recording(self, key: str, **kwargs) -> bool:
        left_when_waiting.append(installation_resources(docker_client, key))
        return original(self, key, **kwargs)

    monkeypatch.setattr(TraefikRouting, "wait_removed", recording)
    operation = services.instance_delete(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert left_when_waiting == [[]]  # one wait, once the containers, volume and network were gone
    assert [s.name for s in operation.steps.order_by("position")][-1] == "confirm_route_removed"
    assert platform.get(instance.host).status_code == 404
