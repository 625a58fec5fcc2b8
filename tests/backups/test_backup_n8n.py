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


@pytest.mark.timeout(1500)  # three n8n boots on a shared machine
@pytest.mark.parametrize(("app", "slug"), [("n8n", "livesql"), ("n8n-postgres", "livepg")])
def test_a_running_n8n_is_backed_up_by_its_dump_and_restored_with_the_same_workflows_and_executions(
        platform, settings, app, slug):
    """Backed up while it runs: SQLite's online backup (n8n) or pg_dump (n8n-postgres), not a raw
    copy of live files; the restore loads the dump before n8n starts."""
    # n8n boots three times here (source, clone, and PostgreSQL's restore first): on a shared,
    # busy machine its first start can take minutes.
    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 300}
    source = provisioned(slug, app_name=app)
    client = api_client()
    for message in ("first", "second"):
        answer = platform.request("POST", source.host, "/webhook/echo", json={"message": message})
        assert answer.status_code == 200
    executions = wait_for(lambda: (lambda found: found if len(found) == 2 else None)(
        [e for e in client.get(f"{API}/{slug}/executions").json()["items"] if e["status"] == "success"]),
        timeout=30, what="both executions")
    workflows = sorted((w["name"], w["active"]) for w in client.get(f"{API}/{slug}/workflows").json())
    assert workflows

    backup, operation = services.backup_create(instance=fresh(source), actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    backup.refresh_from_db()
    assert backup.manifest["dumps"] == ["database"]  # it ran: the instance was running
    instance_services.instance_delete(instance=fresh(source), actor="test")

    clone, operation = services.backup_clone(team=source.team, backup=backup, slug=f"{slug}2", actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert "database: restored from the dump" in operation.steps.get(name="restore_dumps").log
    assert sorted((w["name"], w["active"]) for w in client.get(f"{API}/{slug}2/workflows").json()) == workflows
    copied = client.get(f"{API}/{slug}2/executions").json()["items"]
    assert sorted((e["id"], e["workflow_name"], e["started_at"]) for e in copied if e["status"] == "success") == sorted(
        (e["id"], e["workflow_name"], e["started_at"]) for e in executions)
    again = platform.request("POST", clone.host, "/webhook/echo", json={"message": "after the restore"})
    assert again.status_code == 200 and again.json() == {"echo": "after the restore"}


@pytest.mark.timeout(1500)
def test_a_restore_drill_of_a_running_n8n_passes_with_the_same_workflows(platform, settings):
    from tenantry.backups.drills import drill_start
    from tenantry.backups.models import DrillStatus

    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 300}
    source = provisioned("drillflows")
    answer = platform.request("POST", source.host, "/webhook/echo", json={"message": "drilled"})
    assert answer.status_code == 200
    backup, operation = services.backup_create(instance=fresh(source), actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    backup.refresh_from_db()
    assert set(backup.manifest["verify"]) == {"workflows"}

    drill = drill_start(team=source.team, instance=fresh(source), actor="test")
    drill.refresh_from_db()
    assert drill.status == DrillStatus.PASSED, (drill.error_message, drill.checks)
    assert {"name": "workflows", "ok": True, "detail": "the same as when the backup was made"} in drill.checks
