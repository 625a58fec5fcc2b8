"""A worker killed in the middle of provisioning: the next worker finishes the job, once."""

from __future__ import annotations

import os
import signal

import pytest

from tenantry.instances.models import OperationStatus, Status, StepStatus
from tests.conftest import installation_resources, start_worker, wait_for
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]


def test_killed_worker_leaves_an_operation_the_next_one_completes(platform, docker_client, queued, output_dir):
    log_path = output_dir / "worker-resume.log"
    first = start_worker(log_path)
    try:
        instance, operation = create("survivor", app="slowhello")
        # the app sleeps 4 s before it answers: kill the worker while it waits
        wait_for(lambda: operation.steps.filter(name="wait_healthy", status=StepStatus.RUNNING).exists(),
                 timeout=30, what="the worker to reach the health wait")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        operation.refresh_from_db()
        assert operation.status == OperationStatus.RUNNING  # stuck, as a dead worker leaves it

        second = start_worker(log_path)
        try:
            wait_for(lambda: fresh(operation.instance).status == Status.RUNNING, timeout=60,
                     what="the second worker to finish the provisioning")
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=20)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.runs == 2  # claimed by the first worker, then by the second
    steps = {s.name: s for s in operation.steps.all()}
    assert all(s.status == StepStatus.SUCCEEDED for s in steps.values())
    assert steps["create_containers"].attempts == 1  # done before the kill, not redone
    assert steps["wait_healthy"].attempts == 2  # interrupted, then resumed
    resources = installation_resources(docker_client, str(instance.id))
    assert sorted(r.split(":")[0] for r in resources) == ["container", "network", "volume"]  # no duplicates
    platform.wait_for_body(instance.host, "Hello from survivor", timeout=15)
