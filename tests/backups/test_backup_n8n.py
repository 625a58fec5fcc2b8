"""Real n8n: back up → delete → restore to a new instance → the same workflows and executions,
and the clone runs with the credentials its data was encrypted with."""

from __future__ import annotations

import pytest

from tenantry.backups import services
from tenantry.instances import services as instance_services
from tenantry.instances.models import OperationStatus, Status
from tests.apps.test_n8n import api_client, provisioned
from tests.conftest import wait_for
from tests.instances.helpers import fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]
API = "/api/v1/instances"


def test_n8n_backup_restored_to_a_new_instance_has_the_same_workflows_and_executions(platform):
    source = provisioned("flowsrc")
    client = api_client()
    echo = platform.request("POST", source.host, "/webhook/echo", json={"message": "before the backup"})
    assert echo.status_code == 200
    executions = wait_for(lambda: [e for e in client.get(f"{API}/flowsrc/executions").json()["items"]
                                   if e["status"] == "success"], timeout=15, what="the execution")
    workflows = [(w["name"], w["active"]) for w in client.get(f"{API}/flowsrc/workflows").json()]
    # Stopped: n8n's SQLite files are at rest, the volume is consistent as it is.
    instance_services.instance_stop(instance=source, actor="test")
    backup, operation = services.backup_create(instance=fresh(source), actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    backup.refresh_from_db()
    instance_services.instance_delete(instance=fresh(source), actor="test")

    clone, operation = services.backup_clone(team=source.team, backup=backup, slug="flowcopy", actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(clone).status == Status.RUNNING

    assert [(w["name"], w["active"]) for w in client.get(f"{API}/flowcopy/workflows").json()] == workflows
    copied = client.get(f"{API}/flowcopy/executions").json()["items"]
    assert [e["workflow_name"] for e in copied if e["status"] == "success"] == [
        e["workflow_name"] for e in executions]
    again = platform.request("POST", clone.host, "/webhook/echo", json={"message": "after the restore"})
    assert again.status_code == 200 and again.json() == {"echo": "after the restore"}
