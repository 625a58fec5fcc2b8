"""Backups Tenantry takes by itself: before a deletion (kept by the retention, restorable), and
nothing when there is no data to keep (real Docker, the hello app)."""

from __future__ import annotations

import pytest

from tenantry.backups import services
from tenantry.backups.models import Backup, BackupKind, BackupStatus
from tenantry.instances import services as instance_services
from tenantry.instances.models import OperationStatus, Status
from tests.backups.helpers import sh
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def test_deleting_an_instance_leaves_a_final_backup_that_restores_its_data(platform):
    instance, _ = create("leaving")
    sh(instance, "echo last-words > /data/note.txt")
    operation = instance_services.instance_delete(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.DELETED
    final = Backup.objects.get(instance=instance)
    assert final.kind == BackupKind.FINAL and final.status == BackupStatus.SUCCEEDED
    assert final.operation_id == operation.pk and final.manifest["volumes"][0]["name"] == "data"
    steps = [s.name for s in operation.steps.order_by("position")]
    assert steps.index("stop_for_final_backup") < steps.index("final_backup") < steps.index("remove_volumes")
    assert "containers stopped" in operation.steps.get(name="stop_for_final_backup").log  # read at rest

    clone, operation = services.backup_clone(team=instance.team, backup=final, slug="returning", actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert sh(fresh(clone), "cat /data/note.txt").strip() == "last-words"


def test_a_final_backup_that_cannot_be_written_stops_the_deletion_with_the_data_intact(platform, settings):
    instance, _ = create("clinging")
    sh(instance, "echo still-here > /data/note.txt")
    settings.BACKUP_TARGETS = {**settings.BACKUP_TARGETS, "broken": {
        "BACKEND": "tenantry.backups.targets.local.LocalTarget", "OPTIONS": {"directory": "/proc/nope"}}}
    settings.TENANTRY = {**settings.TENANTRY, "BACKUP_TARGET": "broken"}
    from tenantry.core.backends import reset_backends

    reset_backends()
    try:
        operation = instance_services.instance_delete(instance=instance, actor="test")
    finally:
        settings.TENANTRY = {**settings.TENANTRY, "BACKUP_TARGET": "local"}
        reset_backends()
    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    assert operation.steps.get(name="final_backup").status == "failed"
    # Retried with backoff (the target is "unavailable"), each attempt recorded as failed.
    assert set(Backup.objects.filter(instance=instance).values_list("status", flat=True)) == {BackupStatus.FAILED}
    # Nothing was removed: the volume still holds the data.
    assert operation.steps.get(name="remove_volumes").status == "pending"
    from tenantry.instances.deployment import build_deployment
    from tenantry.runtime.registry import runtime_for

    exported = b"".join(runtime_for(instance.server).export_volume(build_deployment(instance),
                                                                     next(iter(build_deployment(instance).volumes))))
    assert b"still-here" in exported


def test_a_plan_may_delete_without_a_final_backup(platform, settings):
    """TENANTRY_BACKUP_FINAL_ON_DELETE and a plan's `final_backup_on_delete` (which wins) decide
    whether a deletion first saves the data; archiving is not theirs to skip."""
    from tenantry.accounts.services.teams import team_create
    from tenantry.backups.policy import final_backup_on_delete
    from tests.billing.entitlement_helpers import subscribe

    customer = team_create(name="Quick leavers", owner=None, actor="test")
    subscribe(customer, final_backup_on_delete=False)
    unset = team_create(name="Installation default", owner=None, actor="test")
    subscribe(unset)
    assert final_backup_on_delete(customer) is False and final_backup_on_delete(unset) is True
    settings.TENANTRY = {**settings.TENANTRY, "BACKUP_FINAL_ON_DELETE": False}
    assert final_backup_on_delete(unset) is False
    keeper = team_create(name="Careful", owner=None, actor="test")
    subscribe(keeper, final_backup_on_delete=True)
    assert final_backup_on_delete(keeper) is True  # the plan wins over the installation

    instance, _ = create("hasty", team=customer)
    operation = instance_services.instance_delete(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.DELETED
    assert not Backup.objects.filter(instance=instance).exists()
    step = operation.steps.get(name="final_backup")
    assert step.status == "succeeded" and "no final backup" in step.log
    # Nothing to read from the volumes at rest: the containers were removed running, not stopped first.
    stop = operation.steps.get(name="stop_for_final_backup")
    assert stop.status == "succeeded" and "not stopped first" in stop.log and "stopped" not in stop.log.replace(
        "not stopped first", "")
