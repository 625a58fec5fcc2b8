"""Dumps declared in the spec are recorded in the backup and applied at restore (real Docker,
the `dumphello` test app): the consistent copy replaces the raw file before the app starts; a
backup of a stopped instance holds no dump, and its files come back as they were."""

from __future__ import annotations

import pytest

from tenantry.backups import services
from tenantry.instances import services as instance_services
from tenantry.instances.models import OperationStatus, Status
from tests.backups.helpers import sh
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _succeeded(pair):
    backup, operation = pair
    operation.refresh_from_db()
    backup.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    return backup


def test_a_running_instance_s_dump_is_recorded_and_replaces_the_raw_file_at_restore(platform):
    source, _ = create("dumpsrc", app="dumphello")
    sh(source, "echo raw-live-file > /data/note.txt")
    backup = _succeeded(services.backup_create(instance=source, actor="test"))
    assert backup.manifest["dumps"] == ["snapshot"]

    clone, operation = services.backup_clone(team=source.team, backup=backup, slug="dumpcopy", actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    clone = fresh(clone)
    assert clone.status == Status.RUNNING
    assert sh(clone, "cat /data/note.txt").strip() == "consistent-copy"
    assert sh(clone, "ls /data/restored-in-service /data/.snapshot 2>&1 || true").count("No such file") == 1
    step = operation.steps.get(name="restore_dumps")
    assert "snapshot: volume data prepared" in step.log and "snapshot: restored from the dump" in step.log


def test_a_stopped_instance_s_backup_holds_no_dump_and_restores_its_files_as_they_were(platform):
    source, _ = create("dumpstop", app="dumphello")
    sh(source, "echo at-rest > /data/note.txt")
    instance_services.instance_stop(instance=source, actor="test")
    backup = _succeeded(services.backup_create(instance=fresh(source), actor="test"))
    assert backup.manifest["dumps"] == []

    instance_services.instance_start(instance=fresh(source), actor="test")
    sh(source, "echo changed-later > /data/note.txt")
    operation = services.backup_restore(instance=fresh(source), backup=backup, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert sh(source, "cat /data/note.txt").strip() == "at-rest"
    assert "holds no dump" in operation.steps.get(name="restore_dumps").log
    assert "restored-in-service" not in sh(source, "ls -a /data")


def test_run_in_volume_runs_a_command_on_the_volume_and_leaves_no_helper(platform, docker_client):
    from tenantry.instances.deployment import build_deployment
    from tenantry.runtime.registry import runtime_for
    from tests.conftest import installation_resources

    instance, _ = create("volcmd")
    sh(instance, "echo inside > /data/probe")
    runtime, deployment = runtime_for(instance.server), build_deployment(instance)
    [volume] = deployment.volumes
    result = runtime.run_in_volume(deployment, volume, ["/bin/sh", "-c", "cat /volume/probe; echo new > /volume/made"])
    assert result.exit_code == 0 and result.output.strip() == "inside"
    assert sh(instance, "cat /data/made").strip() == "new"
    failed = runtime.run_in_volume(deployment, volume, ["/bin/sh", "-c", "echo oops >&2; exit 3"])
    assert failed.exit_code == 3 and "oops" in failed.output
    assert not [r for r in installation_resources(docker_client, str(instance.pk)) if "backup-helper" in r]
