"""The events instances and operations emit (tenantry/events/catalog.py), built in one place."""

from __future__ import annotations

from tenantry.events.services import emit
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus

# The instance event an operation's success means (kinds absent here change no visible state).
_INSTANCE_EVENT_AFTER: dict[str, str] = {
    OperationKind.PROVISION: "instance.ready",
    OperationKind.CLONE: "instance.ready",
    OperationKind.START: "instance.started",
    OperationKind.WAKE: "instance.started",
    OperationKind.RESUME: "instance.started",
    OperationKind.STOP: "instance.stopped",
    OperationKind.HIBERNATE: "instance.hibernated",
    OperationKind.SUSPEND: "instance.suspended",
    OperationKind.DELETE: "instance.deleted",
}


def instance_payload(instance: Instance, **extra: str) -> dict[str, str]:
    return {"instance_id": str(instance.pk), "slug": instance.slug, "app": instance.app,
            "status": instance.status, "url": instance.url, **extra}


def emit_instance_created(instance: Instance) -> None:
    emit("instance.created", team=instance.team, data=instance_payload(instance))


def emit_operation_finished(operation: Operation, *, in_place: bool) -> None:
    """Inside the transaction that records the outcome: operation.succeeded|failed, and what it
    means for the instance (instance.ready, .stopped, .failed, …)."""
    instance = Instance.objects.select_related("team").get(pk=operation.instance_id)
    failed = operation.status == OperationStatus.FAILED
    emit(f"operation.{'failed' if failed else 'succeeded'}", team=instance.team,
         data={"operation_id": str(operation.pk), "kind": operation.kind, "instance_id": str(instance.pk),
               "slug": instance.slug, "status": operation.status, "error_code": operation.error_code,
               "error_message": operation.error_message[:500]})
    if failed and not in_place:
        emit("instance.failed", team=instance.team,
             data=instance_payload(instance, error_code=operation.error_code,
                                   error_message=operation.error_message[:500]))
    elif not failed and operation.kind in _INSTANCE_EVENT_AFTER:
        emit(_INSTANCE_EVENT_AFTER[operation.kind], team=instance.team, data=instance_payload(instance))
