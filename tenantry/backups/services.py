"""Services that start backups and restores. Each validates, writes in one transaction with an
audit row, and leaves the work to an Operation (steps in tenantry/backups/steps.py)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from tenantry.accounts.models import Team
from tenantry.backups.models import Backup, BackupKind, BackupStatus
from tenantry.backups.policy import target_for
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, ValidationError
from tenantry.instances.models import DesiredState, Instance, Operation, OperationKind, Status
from tenantry.instances.operations import create_operation
from tenantry.instances.services import InvalidTransition, OperationInProgress, instance_create, refuse_if_busy

# A backup reads the volumes, which exist in these states (a running app is asked for its dumps first).
BACKUP_FROM: set[str] = {Status.RUNNING, Status.STOPPED, Status.HIBERNATED}
# A restore in place ends with the app started; a failed instance is the usual reason for one.
RESTORE_FROM: set[str] = {Status.RUNNING, Status.STOPPED, Status.HIBERNATED, Status.FAILED}


class BackupNotRestorable(Conflict):
    code = "backup_not_restorable"


def _locked(instance: Instance, allowed: set[str], what: str) -> Instance:
    instance = Instance.objects.select_for_update().get(pk=instance.pk)
    refuse_if_busy(instance)
    if instance.status not in allowed or (instance.provisioned_at is None and instance.running_since is None):
        raise InvalidTransition(f"Cannot {what} instance {instance.slug!r} while it is {instance.status}.",
                                details={"status": instance.status})
    return instance


def _operation(instance: Instance, kind: str, actor: str, state: dict) -> Operation:
    try:
        with transaction.atomic():
            return create_operation(instance=instance, kind=kind, actor=actor, state=state)
    except IntegrityError as exc:  # one active operation per instance (database constraint)
        raise OperationInProgress(f"Instance {instance.slug!r} already has an operation running.") from exc


def backup_create(*, instance: Instance, actor: str, kind: str = BackupKind.MANUAL) -> tuple[Backup, Operation]:
    """Queue a backup of the instance to the team's backup target (off-site only when the
    team's plan includes it: tenantry.backups.policy)."""
    with transaction.atomic():
        instance = _locked(instance, BACKUP_FROM, "back up")
        backup = Backup.objects.create(team=instance.team, instance=instance, instance_slug=instance.slug,
                                       app=instance.app, app_version=instance.app_version, kind=kind,
                                       target=target_for(instance.team), created_by=actor)
        backup.prefix = f"{backup.team_id}/{instance.pk}/{backup.pk}"
        operation = _operation(instance, OperationKind.BACKUP, actor, {"backup_id": str(backup.pk)})
        backup.operation = operation
        backup.save(update_fields=["prefix", "operation", "updated_at"])
        audit_log(actor=actor, action="backup.create", target=backup,
                  data={"instance": instance.slug, "operation": str(operation.pk)})
    return backup, operation


def _restorable(backup: Backup, team: Team) -> None:
    if backup.team_id != team.pk:  # callers look backups up scoped; this is the last guard
        raise ValidationError("This backup belongs to another team.", code="backup_not_found")
    if backup.status != BackupStatus.SUCCEEDED:
        raise BackupNotRestorable(f"This backup is {backup.status}: only a completed backup can be restored.",
                                  details={"status": backup.status})


def backup_restore(*, instance: Instance, backup: Backup, actor: str) -> Operation:
    """Replace the instance's data with the backup's: checked first, a safety backup of the
    current data, the app stopped, data replaced, health check, app started. When anything
    fails after the data was replaced, the safety backup is put back."""
    _restorable(backup, instance.team)
    if backup.app != instance.app:
        raise ValidationError(f"This backup is of a {backup.app} instance; {instance.slug} runs {instance.app}.",
                              code="backup_app_mismatch", details={"backup_app": backup.app})
    with transaction.atomic():
        instance = _locked(instance, RESTORE_FROM, "restore")
        operation = _operation(instance, OperationKind.RESTORE, actor,
                               {"source_backup_id": str(backup.pk), "previous_status": instance.status})
        instance.desired_state = DesiredState.RUNNING
        instance.save(update_fields=["desired_state", "updated_at"])
        audit_log(actor=actor, action="backup.restore", target=backup,
                  data={"instance": instance.slug, "operation": str(operation.pk)})
    return operation


def backup_clone(*, team: Team, backup: Backup, slug: str, actor: str, memory_mb: int | None = None,
                 cpus: float | None = None) -> tuple[Instance, Operation]:
    """A new instance with the backup's data and credentials, created like any instance (name,
    plan and size checks apply)."""
    _restorable(backup, team)
    instance, operation = instance_create(team=team, slug=slug, app=backup.app, actor=actor, memory_mb=memory_mb,
                                          cpus=cpus, restore_backup_id=str(backup.pk))
    audit_log(actor=actor, action="backup.clone", target=backup,
              data={"instance": instance.slug, "operation": str(operation.pk)})
    return instance, operation
