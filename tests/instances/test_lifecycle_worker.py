"""The path a deployment takes: API → queue → a real worker process → Docker and Traefik.

Nothing here runs in Huey's immediate mode: the API answers 202 with a pending operation, a
`tenantry worker` process (SQLite queue, or Redis when REDIS_URL is set) runs it, and the test
follows it over the API as a client would."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.instances.models import Instance, Operation
from tenantry.instances.operations import enqueue_operation
from tests.conftest import installation_resources, ran_in, start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]


class Api:
    def __init__(self) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=operator_team(), name='w').plaintext}")

    def post(self, path: str, data: dict | None = None) -> dict[str, Any]:
        response = self.client.post(f"/api/v1{path}", data=data or {}, content_type="application/json")
        assert response.status_code == 202, response.content
        return response.json()

    def delete(self, path: str) -> dict[str, Any]:
        response = self.client.delete(f"/api/v1{path}")
        assert response.status_code == 202, response.content
        return response.json()

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1{path}")
        assert response.status_code == 200, response.content
        return response.json()

    def finished(self, operation: dict[str, Any], *, timeout: float = 60) -> dict[str, Any]:
        """Follow an operation until it ends; it must succeed."""
        def ended() -> dict[str, Any] | None:
            current = self.get(f"/operations/{operation['id']}")
            return current if current["status"] in ("succeeded", "failed") else None

        done = wait_for(ended, timeout=timeout, interval=0.1, what=f"{operation['kind']} to end")
        assert done["status"] == "succeeded", done
        return done


def test_create_stop_start_hibernate_wake_delete_through_a_worker_process(platform, worker, docker_client):
    api = Api()
    created = api.post("/instances", {"slug": "relay", "app": "hello"})
    # Queued, not run in this process: the worker may already have taken it by the time the
    # answer is written (Redis hands it over at once), so "running" is fine; who ran it is checked.
    assert created["operation"]["status"] in ("pending", "running")
    api.finished(created["operation"])
    assert ran_in(worker, Operation.objects.get(pk=created["operation"]["id"]))
    instance = Instance.objects.get(slug="relay")
    assert api.get("/instances/relay")["status"] == "running"
    platform.wait_for_body(instance.host, "boots: <code>1</code>")
    platform.wait_for_body(instance.host, "Hello from relay")

    api.finished(api.post("/instances/relay/stop"))
    assert api.get("/instances/relay")["status"] == "stopped"
    stopped = platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "stopped")
    assert stopped.status_code == 503 and "relay is stopped" in stopped.text

    api.finished(api.post("/instances/relay/start"))
    assert api.get("/instances/relay")["status"] == "running"
    platform.wait_for_body(instance.host, "boots: <code>2</code>")

    api.finished(api.post("/instances/relay/hibernate"))
    assert api.get("/instances/relay")["status"] == "hibernated"
    api.finished(api.post("/instances/relay/wake"))
    assert api.get("/instances/relay")["status"] == "running"
    platform.wait_for_body(instance.host, "boots: <code>3</code>")

    deleted = api.finished(api.delete("/instances/relay"))
    assert deleted["kind"] == "delete"
    assert Instance.objects.get(pk=instance.pk).status == "deleted"
    platform.wait_until(instance.host, lambda r: r.status_code == 404, what="the address to be gone")
    assert installation_resources(docker_client, str(instance.id)) == []

    operations = list(Operation.objects.filter(instance=instance).order_by("created_at"))
    assert [op.kind for op in operations] == ["provision", "stop", "start", "hibernate", "wake", "delete"]
    assert all(ran_in(worker, op) and op.runs == 1 for op in operations)  # each by the worker process, once


def test_two_worker_processes_given_the_same_operation_run_it_once(platform, worker, docker_client, output_dir):
    """Two real workers, the operation queued twice (a resume racing the original task)."""
    second = start_worker(output_dir / "worker-second.log")
    try:
        api = Api()
        created = api.post("/instances", {"slug": "twice-queued", "app": "slowhello"})
        enqueue_operation(created["operation"]["id"])
        api.finished(created["operation"])
    finally:
        stop_worker(second)
    operation = Operation.objects.get(pk=created["operation"]["id"])
    assert operation.runs == 1 and (ran_in(worker, operation) or ran_in(second, operation))
    assert {step.name: step.attempts for step in operation.steps.all()} == {
        step.name: 1 for step in operation.steps.all()}
    resources = installation_resources(docker_client, str(operation.instance_id))
    assert sorted(r.split(":")[0] for r in resources) == ["container", "network", "volume"]
    platform.wait_for_body(operation.instance.host, "Hello from twice-queued", timeout=15)
