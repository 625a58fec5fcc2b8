"""The reconciler heals drift between the database and Docker / the proxy."""

from __future__ import annotations

import pytest
from django.conf import settings

from tenantry.instances import services
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import OperationStatus, Status
from tenantry.instances.reconciler import reconcile
from tenantry.runtime.registry import runtime_for
from tests.conftest import installation_resources
from tests.instances.helpers import create, fresh, last_operation

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def test_container_removed_behind_our_back_comes_back(platform, docker_client):
    instance, _ = create("phoenix")
    platform.wait_for_body(instance.host, "boots: <code>1</code>")
    docker_client.containers.get(build_deployment(instance).container("web").name).remove(force=True)
    assert not runtime_for(instance.server).state(build_deployment(instance)).all_running

    report = reconcile()

    assert report.healed == ["phoenix"]
    heal = last_operation(instance)
    assert heal.kind == "start" and heal.actor == "reconciler" and heal.status == OperationStatus.SUCCEEDED
    assert fresh(instance).status == Status.RUNNING
    # same volume: the data is still there (second boot)
    platform.wait_for_body(instance.host, "boots: <code>2</code>")
    assert len([r for r in installation_resources(docker_client, str(instance.id)) if r.startswith("container")]) == 1
    assert reconcile().healed == []  # converged


def test_stopped_instance_started_by_hand_is_stopped_again(platform, docker_client):
    instance, _ = create("sleepy")
    services.instance_stop(instance=instance, actor="test")
    docker_client.containers.get(build_deployment(instance).container("web").name).start()
    report = reconcile()
    assert report.stopped == ["sleepy"]
    assert not runtime_for(instance.server).state(build_deployment(instance)).any_running
    assert fresh(instance).status == Status.STOPPED


def test_missing_route_file_is_published_again(platform):
    instance, _ = create("routed")
    platform.wait_for_body(instance.host, "Hello from routed")
    route_file = platform.directory / "dynamic" / f"route-{instance.id}.yml"
    route_file.unlink()
    platform.wait_until(instance.host, lambda r: r.status_code == 404, what="route gone")
    reconcile()
    assert route_file.exists()
    platform.wait_for_body(instance.host, "Hello from routed")


def test_a_pass_reads_the_engine_once_and_rewrites_nothing_that_did_not_change(platform, docker_client,
                                                                             monkeypatch):
    from tenantry.runtime.backends.docker import DockerRuntime

    instances = [create(slug)[0] for slug in ("counted-one", "counted-two", "counted-three")]
    reconcile()  # converged: every route written as the database says
    calls = {"observe": 0, "state": 0}
    for method in calls:
        original = getattr(DockerRuntime, method)

        def counting(self, *args, _name=method, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DockerRuntime, method, counting)
    routes = sorted((platform.directory / "dynamic").glob("route-*.yml"))
    written = {path.name: path.stat().st_ino for path in routes}

    assert reconcile().healed == []

    # One listing of the engine for the three instances (it was three inspections each), and
    # no route file replaced when no route changed.
    assert calls == {"observe": 1, "state": 0}
    assert {path.name: path.stat().st_ino for path in routes} == written
    docker_client.containers.get(f"{settings.TENANTRY['RESOURCE_PREFIX']}-counted-two-web").stop()
    assert reconcile().healed == ["counted-two"]  # drift is still found from the one listing
    assert fresh(instances[1]).status == Status.RUNNING


def test_the_reconcile_command_runs_a_pass_and_says_how_long_it_took(platform):
    import io
    import re

    from django.core.management import call_command

    instance, _ = create("timed")
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    printed = out.getvalue()
    assert printed.startswith("resumed: 0, healed: [], stopped: [], orphans removed: 0; in "), printed
    assert re.search(r"; in \d+\.\d\d s \(engines connected in \d+\.\d\d s before\)", printed), printed
    assert fresh(instance).status == Status.RUNNING
