"""Lifecycle operations billing drives: resize (plan/add-on limits), suspend, resume, archive.

Same shape as the services in services.py: lock the instance, refuse a second active operation
(the database constraint backs this), set the desired state, audit, queue the work on commit.

Suspend, resume and archive are driven by the desired state and safe to repeat: asking again
while the same operation is under way returns it; asking while another operation runs records
the desired state (audited as deferred) and the reconciler (every minute) and dunning (every
15 minutes) queue the operation once the instance is free, until it really is in that state.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from tenantry.billing import entitlements
from tenantry.core.audit import audit_log
from tenantry.core.errors import ValidationError
from tenantry.instances.bounds import MAX_CPUS, MAX_MEMORY_MB, MIN_CPUS, MIN_MEMORY_MB_PER_SERVICE
from tenantry.instances.models import DesiredState, Instance, Operation, OperationKind, Status
from tenantry.instances.services import InvalidTransition, active_operation, queue_operation

_GONE = (Status.DELETED, Status.DELETING)


def _queue(instance: Instance, kind: str, actor: str, desired: str, data: dict | None = None) -> Operation:
    operation = queue_operation(instance, kind, actor)
    instance.desired_state = desired
    instance.save(update_fields=["desired_state", "memory_mb", "cpus", "updated_at"])
    audit_log(actor=actor, action=f"instance.{kind}", target=instance,
              data={"operation": str(operation.id), **(data or {})})
    return operation


def _locked(instance: Instance) -> Instance:
    return Instance.objects.select_for_update().get(pk=instance.pk)


@transaction.atomic
def instance_resize(*, instance: Instance, memory_mb: int, cpus: Decimal, actor: str) -> Operation | None:
    """Apply new limits; a running instance's containers are recreated with them (volumes kept).

    A stopped or suspended instance only records the limits: they apply when it next starts.
    Returns None when nothing changes. Growing asks the team's entitlements first.
    """
    instance = _locked(instance)
    if instance.status in _GONE or instance.status == Status.ARCHIVED:
        raise InvalidTransition(f"Instance {instance.slug!r} is {instance.status}.")
    cpus = Decimal(cpus).quantize(Decimal("0.001"))
    if instance.memory_mb == memory_mb and Decimal(instance.cpus) == cpus:
        return None
    if not (MIN_MEMORY_MB_PER_SERVICE <= memory_mb <= MAX_MEMORY_MB and MIN_CPUS <= cpus <= MAX_CPUS):
        raise ValidationError(f"A size must be {MIN_MEMORY_MB_PER_SERVICE}-{MAX_MEMORY_MB} MB and "
                              f"{MIN_CPUS}-{MAX_CPUS} CPUs.", details={"memory_mb": memory_mb, "cpus": str(cpus)})
    if memory_mb > instance.memory_mb or cpus > Decimal(instance.cpus):
        entitlements.require_growth(team=instance.team, memory_mb=memory_mb, cpus=cpus)
    before = {"memory_mb": instance.memory_mb, "cpus": str(instance.cpus)}
    instance.memory_mb, instance.cpus = memory_mb, cpus
    data = {"before": before, "after": {"memory_mb": memory_mb, "cpus": str(cpus)}}
    if instance.status != Status.RUNNING:
        instance.save(update_fields=["memory_mb", "cpus", "updated_at"])
        audit_log(actor=actor, action="instance.resize_recorded", target=instance, data=data)
        return None
    return _queue(instance, OperationKind.RESIZE, actor, DesiredState.RUNNING, data)


def _busy(instance: Instance, kind: str, desired: str, actor: str, reason: str = "") -> tuple[bool, Operation | None]:
    """(busy, operation): the same operation under way is the answer (asking twice is harmless);
    another one leaves the desired state recorded, for the reconciler or dunning to act on later.
    Deleting or archiving wins over anything billing asks."""
    current = active_operation(instance)
    if current is None:
        return False, None
    if current.kind == kind:
        return True, current
    if current.kind not in (OperationKind.DELETE, OperationKind.ARCHIVE):
        instance.desired_state = desired
        instance.save(update_fields=["desired_state", "updated_at"])
        audit_log(actor=actor, action=f"instance.{kind}_deferred", target=instance,
                  data={"busy_with": current.kind, "operation": str(current.id), "reason": reason})
    return True, None


@transaction.atomic
def instance_suspend(*, instance: Instance, actor: str, reason: str = "") -> Operation | None:
    """Stop the containers and point the address at the edge's 'suspended' page."""
    instance = _locked(instance)
    if instance.status in _GONE or instance.status in (Status.ARCHIVED, Status.ARCHIVING, Status.SUSPENDED):
        return None
    busy, current = _busy(instance, OperationKind.SUSPEND, DesiredState.SUSPENDED, actor, reason)
    if busy:
        return current
    if instance.status == Status.PENDING and instance.provisioned_at is None:
        instance.desired_state = DesiredState.SUSPENDED
        instance.save(update_fields=["desired_state", "updated_at"])
        return None
    return _queue(instance, OperationKind.SUSPEND, actor, DesiredState.SUSPENDED, {"reason": reason})


@transaction.atomic
def instance_resume(*, instance: Instance, actor: str) -> Operation | None:
    """Bring a suspended instance back (containers started, address published again)."""
    instance = _locked(instance)
    if instance.desired_state != DesiredState.SUSPENDED and instance.status != Status.SUSPENDED:
        return None
    if instance.status in _GONE or instance.status in (Status.ARCHIVED, Status.ARCHIVING):
        raise InvalidTransition(f"Instance {instance.slug!r} is {instance.status}: restore it from its archive.")
    busy, current = _busy(instance, OperationKind.RESUME, DesiredState.RUNNING, actor)
    if busy:
        return current
    if instance.status != Status.SUSPENDED:  # its suspension never happened: nothing to undo
        instance.desired_state = DesiredState.RUNNING
        instance.save(update_fields=["desired_state", "updated_at"])
        audit_log(actor=actor, action="instance.resume", target=instance, data={"operation": None})
        return None
    return _queue(instance, OperationKind.RESUME, actor, DesiredState.RUNNING)


@transaction.atomic
def instance_archive(*, instance: Instance, actor: str, reason: str = "") -> Operation | None:
    """Final backup into the data dir, containers and network removed, volumes kept for the retention period."""
    instance = _locked(instance)
    if instance.status in _GONE or instance.status in (Status.ARCHIVED, Status.ARCHIVING):
        return None
    busy, current = _busy(instance, OperationKind.ARCHIVE, DesiredState.ARCHIVED, actor, reason)
    if busy:
        return current
    return _queue(instance, OperationKind.ARCHIVE, actor, DesiredState.ARCHIVED, {"reason": reason})
