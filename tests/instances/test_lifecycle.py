"""End to end on real Docker and a real Traefik: create, route, stop, start, hibernate, wake,
delete, and what each leaves behind."""

from __future__ import annotations

import pytest

from tenantry.instances import services
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import OperationStatus, Status, StepStatus
from tenantry.runtime.registry import runtime_for
from tests.conftest import installation_resources
from tests.instances.helpers import create, fresh, last_operation

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def test_create_hello_answers_through_traefik_at_its_host(platform):
    instance, operation = create("alpha")

    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert [s.status for s in operation.steps.all()] == [StepStatus.SUCCEEDED] * operation.steps.count()
    assert instance.status == Status.RUNNING
    assert instance.provisioned_at is not None
    response = platform.wait_for_body(instance.host, "Hello from alpha")
    assert response.status_code == 200
    assert "<code>alpha</code>" in response.text
    # another host name on the same proxy is not this instance
    assert "Hello from alpha" not in platform.get(f"nobody.{instance.host.split('.', 1)[1]}").text


def test_volume_survives_stop_start_and_hibernate_wake(platform):
    instance, _ = create("keeper")
    runtime = runtime_for(instance.server)
    deployment = build_deployment(instance)
    result = runtime.exec(deployment, "web", ["sh", "-c", "echo precious-42 > /data/note.txt"])
    assert result.exit_code == 0
    assert platform.wait_for_body(instance.host, "boots: <code>1</code>")

    stop = services.instance_stop(instance=instance, actor="test")
    stop.refresh_from_db()
    assert stop.status == OperationStatus.SUCCEEDED
    assert fresh(instance).status == Status.STOPPED
    stopped_page = platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "stopped")
    assert stopped_page.status_code == 503
    assert "keeper is stopped" in stopped_page.text
    assert not runtime.state(deployment).any_running

    services.instance_start(instance=instance, actor="test")
    assert fresh(instance).status == Status.RUNNING
    assert platform.wait_for_body(instance.host, "boots: <code>2</code>")
    assert platform.get(instance.host, "/data/note.txt").text.strip() == "precious-42"

    services.instance_hibernate(instance=instance, actor="test")
    assert fresh(instance).status == Status.HIBERNATED
    assert not runtime.state(deployment).any_running

    # The first request wakes it: the visitor sees the self-refreshing starting page…
    first = platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "starting",
                                path="/data/note.txt", browser=True)
    assert first.status_code == 503
    assert '<meta http-equiv="refresh"' in first.text
    assert last_operation(instance).kind == "wake"
    # …and the same request, repeated as the page does, reaches the app with its data.
    again = platform.wait_until(instance.host, lambda r: r.status_code == 200, path="/data/note.txt")
    assert again.text.strip() == "precious-42"
    assert fresh(instance).status == Status.RUNNING

    # A machine caller (a webhook) cannot follow a page: its request is held while the app wakes,
    # then answered by the app itself.
    services.instance_hibernate(instance=instance, actor="test")
    assert fresh(instance).status == Status.HIBERNATED
    # (the hibernate operation waited for the proxy to send the address to the edge)
    held = platform.get(instance.host, "/data/note.txt?from=webhook", timeout=30)
    assert held.status_code == 200 and held.text.strip() == "precious-42"
    assert held.headers["X-Tenantry-State"] == "woken"
    assert fresh(instance).status == Status.RUNNING


def test_instances_cannot_reach_each_other_but_services_of_one_can(platform):
    a, _ = create("island-a")
    b, _ = create("island-b")
    pair, op = create("pair", app="twotier")
    assert op.status == OperationStatus.SUCCEEDED, op.error_message
    runtime = runtime_for(a.server)
    dep_a, dep_b, dep_pair = build_deployment(a), build_deployment(b), build_deployment(pair)
    b_ip = dep_b.container("web").ip

    # Positive control: the same command works where the network allows it.
    inside = runtime.exec(dep_pair, "front", ["sh", "-c", "timeout 4 wget -q -O - http://back:9000/"])
    assert inside.exit_code == 0 and "Hello from pair-back" in inside.output
    same = runtime.exec(dep_b, "web", ["sh", "-c", f"timeout 4 wget -q -O - http://{b_ip}:8080/"])
    assert same.exit_code == 0 and "Hello from island-b" in same.output

    across = runtime.exec(dep_a, "web", ["sh", "-c", f"timeout 4 wget -q -O - http://{b_ip}:8080/; echo rc=$?"])
    assert "Hello from island-b" not in across.output
    assert "rc=0" not in across.output
    by_name = runtime.exec(dep_a, "web", ["sh", "-c", "timeout 4 wget -q -O - http://back:9000/; echo rc=$?"])
    assert "Hello from pair-back" not in by_name.output


def test_limits_on_containers_are_the_instance_size(platform):
    instance, _ = create("sized", memory_mb=96, cpus=0.5, pids=80)
    limits = runtime_for(instance.server).inspect_limits(build_deployment(instance), "web")
    assert (limits.memory_mb, limits.cpus, limits.pids) == (96, 0.5, 80)

    pair, _ = create("sized-pair", app="twotier", memory_mb=256, cpus=0.8, pids=256)
    runtime = runtime_for(pair.server)
    dep = build_deployment(pair)
    back, front = runtime.inspect_limits(dep, "back"), runtime.inspect_limits(dep, "front")
    # shared in the spec's proportions (32:96 memory, 0.1:0.3 CPU, 32:96 pids)
    assert (back.memory_mb, front.memory_mb) == (64, 192)
    assert (back.cpus, front.cpus) == (0.2, 0.6)
    assert (back.pids, front.pids) == (64, 192)


def test_delete_leaves_no_docker_resource_and_frees_the_name(platform, docker_client):
    instance, _ = create("goner")
    assert len(installation_resources(docker_client, str(instance.id))) == 3  # container, network, volume
    operation = services.instance_delete(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert installation_resources(docker_client, str(instance.id)) == []
    instance = fresh(instance)
    assert instance.status == Status.DELETED and instance.subnet is None
    assert platform.get(instance.host).status_code == 404
    again, op = create("goner")
    assert op.status == OperationStatus.SUCCEEDED and again.id != instance.id


def test_restart_keeps_the_instance_answering(platform):
    instance, _ = create("bouncer")
    operation = services.instance_restart(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert platform.wait_for_body(instance.host, "boots: <code>2</code>")


def test_first_start_tasks_run_once_in_order_and_their_secrets_stay_out_of_logs(platform):
    from tenantry.instances.secrets import instance_secret_values

    instance, operation = create("hooked", app="hookedhello")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    runtime = runtime_for(instance.server)
    deployment = build_deployment(instance)
    log = runtime.exec(deployment, "web", ["cat", "/data/hooks.log"]).output.split("\n")
    assert log[:2] == ["first", "second hooked.localhost"]
    services.instance_restart(instance=instance, actor="test")
    assert runtime.exec(deployment, "web", ["cat", "/data/hooks.log"]).output.count("first") == 1
    step = operation.steps.get(name="post_provision")
    assert "hook first" in step.log and "hook second" in step.log
    password = instance_secret_values(instance)["admin_password"]
    assert all(password not in s.log + s.error for s in operation.steps.all())
