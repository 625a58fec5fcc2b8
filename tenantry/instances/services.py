"""Services that change instances. Each validates first, writes in one transaction, records
an audit event, and hands runtime work to the queue as an Operation once the transaction commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing import entitlements
from tenantry.catalog.registry import get_app
from tenantry.catalog.schema import AppSpec
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, ServiceUnavailable, ValidationError
from tenantry.instances.app_inputs import clean_inputs, clean_templates
from tenantry.instances.bounds import (
    MAX_CPUS,
    MAX_HIBERNATE_AFTER_SECONDS,
    MAX_MEMORY_MB,
    MAX_PIDS,
    MIN_CPUS,
    MIN_MEMORY_MB_PER_SERVICE,
    MIN_PIDS_PER_SERVICE,
)
from tenantry.instances.deployment import app_images
from tenantry.instances.events import emit_instance_created
from tenantry.instances.models import (
    ACTIVE_OPERATION_STATUSES,
    DesiredState,
    Instance,
    Operation,
    OperationKind,
    OperationStatus,
    Status,
)
from tenantry.instances.naming import slug_problem
from tenantry.instances.operations import IN_PLACE_KINDS, create_operation
from tenantry.instances.secrets import create_instance_secrets, store_inputs
from tenantry.runtime.backends.base import BackendError, TransientBackendError
from tenantry.runtime.models import Server
from tenantry.runtime.placement import free_subnet, place_instance
from tenantry.runtime.registry import runtime_for

SUBNET_ALLOCATION_ATTEMPTS = 5


class ImageMissing(ApplicationError):
    code = "image_missing"
    status = 422


class OperationInProgress(Conflict):
    code = "operation_in_progress"


class InvalidTransition(Conflict):
    code = "invalid_state"


def _validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    problem = slug_problem(slug)
    if problem:
        code = "reserved_slug" if problem == "is reserved" else "invalid_slug"
        raise ValidationError(f"The name {slug!r} {problem}.", code=code, details={"field": "slug"})
    if Instance.objects.filter(slug=slug).exclude(status=Status.DELETED).exists():
        raise Conflict(f"An instance named {slug!r} already exists.", code="slug_taken", details={"field": "slug"})
    return slug


def _validate_size(spec: AppSpec, entitlement: entitlements.Entitlement, memory_mb: int | None,
                   cpus: float | None, pids: int | None) -> tuple[int, Decimal, int]:
    """The size asked for, else the plan's (what billing's own provisioning and later limit
    changes give every instance of the team), else the app's default; within the bounds and the plan."""
    default = spec.default_resources()
    limits = entitlement.limits
    memory = memory_mb if memory_mb is not None else limits.memory_mb if limits else default.memory_mb
    cpu = cpus if cpus is not None else float(limits.cpus) if limits else default.cpus
    pid = default.pids if pids is None else pids
    services_count = len(spec.services)
    if not MIN_MEMORY_MB_PER_SERVICE * services_count <= memory <= MAX_MEMORY_MB:
        raise ValidationError(f"memory_mb must be between {MIN_MEMORY_MB_PER_SERVICE * services_count} and "
                              f"{MAX_MEMORY_MB}.", details={"field": "memory_mb"})
    if not MIN_CPUS <= cpu <= MAX_CPUS:  # also refuses NaN
        raise ValidationError(f"cpus must be between {MIN_CPUS} and {MAX_CPUS}.", details={"field": "cpus"})
    if not MIN_PIDS_PER_SERVICE * services_count <= pid <= MAX_PIDS:
        raise ValidationError(f"pids must be between {MIN_PIDS_PER_SERVICE * services_count} and {MAX_PIDS}.",
                              details={"field": "pids"})
    entitlements.require_size(entitlement, memory_mb=memory, cpus=cpu)
    return memory, Decimal(str(round(cpu, 3))), pid


def _validate_hibernate_after(seconds: int | None) -> int | None:
    if seconds is not None and not 0 <= seconds <= MAX_HIBERNATE_AFTER_SECONDS:
        raise ValidationError(f"hibernate_after_seconds must be between 0 (never) and {MAX_HIBERNATE_AFTER_SECONDS}.",
                              details={"field": "hibernate_after_seconds"})
    return seconds


def _check_runtime_ready(spec: AppSpec, server: Server) -> list[str]:
    """Fail fast, before anything is written, when the app cannot run on this server.
    Returns the subnets already used on its engine, for the allocation."""
    runtime = runtime_for(server)
    try:
        missing = runtime.missing_images(app_images(spec))
        taken = runtime.used_subnets()
    except TransientBackendError as exc:
        raise ServiceUnavailable(f"The container runtime is unavailable: {exc.message}",
                                 code="runtime_unavailable") from exc
    except BackendError as exc:
        raise ServiceUnavailable(exc.message, code="runtime_error") from exc
    if missing:
        raise ImageMissing(
            f"App {spec.name!r} cannot be provisioned here: image(s) {', '.join(missing)} not present on "
            "the Docker host and no registry is reachable. Build or load them first.",
            details={"app": spec.name, "missing_images": missing},
        )
    return taken


def instance_create(*, team: Team, slug: str, app: str, actor: str, memory_mb: int | None = None,
                    cpus: float | None = None, pids: int | None = None,
                    hibernate_after_seconds: int | None = None, inputs: dict[str, str] | None = None,
                    templates: list[str] | None = None,
                    restore_backup_id: str | None = None) -> tuple[Instance, Operation]:
    """Create an instance and queue its provisioning. Nothing is written when input is bad.

    `inputs` are the customer's values the app spec asks for (stored encrypted); `templates`
    the content to seed it with (the spec's defaults when None). The team's plan decides whether
    it may (tenantry.billing.entitlements); the operators' team is not limited.
    `restore_backup_id`: a clone — the volumes are filled from that backup (checked by the
    caller, tenantry.backups.services.backup_clone) instead of first-start tasks and templates.
    """
    entitlement = entitlements.require_new_instance(team=team, app=app)
    slug = _validate_slug(slug)
    spec = get_app(app)
    memory, cpu, pid = _validate_size(spec, entitlement, memory_mb, cpus, pids)
    clean = clean_inputs(spec, inputs)
    chosen_templates = clean_templates(spec, templates, clean)
    hibernate_after_seconds = _validate_hibernate_after(hibernate_after_seconds)
    server = place_instance()
    taken_on_host = _check_runtime_ready(spec, server)

    for attempt in range(SUBNET_ALLOCATION_ATTEMPTS):
        try:
            with transaction.atomic():
                # Counted again with the team locked: two concurrent creates cannot both take the last slot.
                Team.objects.select_for_update().filter(pk=team.pk).first()
                entitlements.require_new_instance(team=team, app=spec.name)
                instance = Instance.objects.create(
                    team=team, slug=slug, app=spec.name, app_version=spec.version, server=server,
                    subnet=free_subnet(server, taken_on_host=taken_on_host), memory_mb=memory, cpus=cpu, pids=pid,
                    desired_state=DesiredState.RUNNING, status=Status.PENDING,
                    hibernate_after_seconds=hibernate_after_seconds, created_by=actor,
                    options={"templates": chosen_templates} if (spec.templates.default or chosen_templates)
                    and not restore_backup_id else {},
                )
                create_instance_secrets(instance, spec.secrets)
                store_inputs(instance, clean)
                if restore_backup_id:
                    operation = create_operation(instance=instance, kind=OperationKind.CLONE, actor=actor,
                                                 state={"source_backup_id": restore_backup_id})
                else:
                    operation = create_operation(instance=instance, kind=OperationKind.PROVISION, actor=actor)
                audit_log(actor=actor, action="instance.create", target=instance,
                          data={"slug": slug, "app": spec.name, "memory_mb": memory, "cpus": str(cpu),
                                "inputs": sorted(clean), "templates": chosen_templates,
                                **({"from_backup": restore_backup_id} if restore_backup_id else {})})
                emit_instance_created(instance)
                return instance, operation
        except IntegrityError as exc:
            # Either the slug was taken a moment ago, or another create took the same subnet.
            if Instance.objects.filter(slug=slug).exclude(status=Status.DELETED).exists():
                raise Conflict(f"An instance named {slug!r} already exists.", code="slug_taken",
                               details={"field": "slug"}) from exc
            if attempt == SUBNET_ALLOCATION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# Which lifecycle action is allowed from which observed status.
_ALLOWED_FROM: dict[str, set[str]] = {
    OperationKind.START: {Status.STOPPED, Status.HIBERNATED, Status.FAILED},
    OperationKind.STOP: {Status.RUNNING, Status.FAILED, Status.HIBERNATED},
    OperationKind.RESTART: {Status.RUNNING, Status.FAILED},
    OperationKind.HIBERNATE: {Status.RUNNING},
    OperationKind.WAKE: {Status.HIBERNATED},
    # Changes made inside the running app (its hooks talk to it).
    OperationKind.RECONFIGURE: {Status.RUNNING},
    OperationKind.ROTATE: {Status.RUNNING},
}
_DESIRED_AFTER: dict[str, str] = {
    OperationKind.START: DesiredState.RUNNING,
    OperationKind.STOP: DesiredState.STOPPED,
    OperationKind.RESTART: DesiredState.RUNNING,
    OperationKind.HIBERNATE: DesiredState.HIBERNATED,
    OperationKind.WAKE: DesiredState.RUNNING,
    OperationKind.DELETE: DesiredState.DELETED,
    OperationKind.SUSPEND: DesiredState.SUSPENDED,
    OperationKind.ARCHIVE: DesiredState.ARCHIVED,
}


def active_operation(instance: Instance) -> Operation | None:
    return instance.operations.filter(status__in=ACTIVE_OPERATION_STATUSES).first()


def refuse_if_busy(instance: Instance) -> None:
    current = active_operation(instance)
    if current is not None:
        raise OperationInProgress(
            f"Instance {instance.slug!r} is busy with a {current.kind} operation; try again when it ends.",
            details={"operation_id": str(current.id), "kind": current.kind})


def _create_operation(instance: Instance, kind: str, actor: str, state: dict | None = None) -> Operation:
    try:
        with transaction.atomic():
            return create_operation(instance=instance, kind=kind, actor=actor, state=state)
    except IntegrityError as exc:  # the database constraint: one active operation per instance
        raise OperationInProgress(f"Instance {instance.slug!r} already has an operation running.") from exc


def queue_operation(instance: Instance, kind: str, actor: str) -> Operation:
    """Create an operation for an instance the caller holds locked (select_for_update), refusing a
    second active one; the database constraint backs the check against concurrent callers."""
    refuse_if_busy(instance)
    return _create_operation(instance, kind, actor)


def _lifecycle(instance: Instance, kind: str, actor: str, *, check_status: bool = True) -> Operation:
    with transaction.atomic():
        # Lock the row so two concurrent requests cannot both pass the checks below.
        instance = Instance.objects.select_for_update().get(pk=instance.pk)
        if instance.status == Status.DELETED:
            raise InvalidTransition(f"Instance {instance.slug!r} is deleted.")
        refuse_if_busy(instance)
        if kind == OperationKind.START and instance.status == Status.FAILED and instance.provisioned_at is None:
            kind = OperationKind.PROVISION  # never came up: starting it means provisioning again
        allowed = _ALLOWED_FROM.get(kind)
        if (check_status and allowed is not None and instance.status not in allowed
                and kind != OperationKind.PROVISION):
            raise InvalidTransition(f"Cannot {kind} instance {instance.slug!r} while it is {instance.status}.",
                                    details={"status": instance.status})
        operation = _create_operation(instance, kind, actor)
        if kind not in IN_PLACE_KINDS:  # a change made in place leaves the desired state as it is
            instance.desired_state = _DESIRED_AFTER.get(kind, DesiredState.RUNNING)
            instance.save(update_fields=["desired_state", "updated_at"])
        audit_log(actor=actor, action=f"instance.{kind}", target=instance, data={"operation": str(operation.id)})
        return operation


def instance_start(*, instance: Instance, actor: str) -> Operation:
    return _lifecycle(instance, OperationKind.START, actor)


def instance_stop(*, instance: Instance, actor: str) -> Operation:
    return _lifecycle(instance, OperationKind.STOP, actor)


def instance_restart(*, instance: Instance, actor: str) -> Operation:
    return _lifecycle(instance, OperationKind.RESTART, actor)


def instance_hibernate(*, instance: Instance, actor: str) -> Operation:
    return _lifecycle(instance, OperationKind.HIBERNATE, actor)


def instance_wake(*, instance: Instance, actor: str) -> Operation:
    return _lifecycle(instance, OperationKind.WAKE, actor)


def instance_delete(*, instance: Instance, actor: str) -> Operation:
    return _lifecycle(instance, OperationKind.DELETE, actor)


def instance_update_inputs(*, instance: Instance, inputs: dict[str, str], actor: str) -> Operation:
    """Change some of the customer's inputs (rotate an external credential) and update the running
    app in place, without a restart. The new values are stored only if the operation can start."""
    spec = get_app(instance.app)
    clean = clean_inputs(spec, inputs, partial=True)
    if not clean:
        raise ValidationError("Give at least one new value.", code="missing_input", details={"field": "inputs"})
    with transaction.atomic():
        operation = _lifecycle(instance, OperationKind.RECONFIGURE, actor)
        store_inputs(instance, clean)
        audit_log(actor=actor, action="instance.inputs_changed", target=instance, data={"inputs": sorted(clean)})
        return operation


def instance_rotate_credentials(*, instance: Instance, actor: str) -> Operation:
    """Replace the credentials Tenantry holds for the app (its API key), as the spec's hooks say."""
    if not get_app(instance.app).hooks.rotate_credentials:
        raise ValidationError(f"App {instance.app!r} has no credentials to rotate.", code="not_supported")
    return _lifecycle(instance, OperationKind.ROTATE, actor)


def instance_heal(*, instance: Instance, actor: str, kind: str = OperationKind.START) -> Operation:
    """Bring the runtime back to the desired state whatever the recorded status says: START an
    instance whose containers crashed or vanished, STOP/HIBERNATE one that runs when it should not."""
    return _lifecycle(instance, kind, actor, check_status=False)


def instance_wake_on_request(*, instance: Instance) -> Operation | None:
    """A visitor reached a hibernated instance: wake it, unless it is already waking."""
    instance.refresh_from_db()
    if instance.status != Status.HIBERNATED:
        return active_operation(instance)
    try:
        return instance_wake(instance=instance, actor="edge:request")
    except (OperationInProgress, InvalidTransition):
        return active_operation(instance)


class NotRetryable(Conflict):
    code = "not_retryable"


def operation_retry(*, operation: Operation, actor: str) -> Operation:
    """Run a failed operation's kind again as a new operation (steps are idempotent).

    Only the instance's latest operation, still failed, on an instance that is not deleted, and
    only when the instance is where that failure left it: an old failure must never replay over
    what happened since (a deleted instance provisioned again, a later delete undone).
    """
    with transaction.atomic():
        instance = Instance.objects.select_for_update().get(pk=operation.instance_id)
        operation = Operation.objects.get(pk=operation.pk)  # as it is now, under the instance's lock
        _check_retryable(operation, instance)
        carried = {key: operation.state[key] for key in _RETRY_CARRIES.get(operation.kind, ())
                   if key in operation.state}
        if operation.kind == OperationKind.PROVISION:
            new = queue_operation(instance, operation.kind, actor)
        elif carried:
            # Told again what its first run was given (the backup to restore from), not replayed blind.
            refuse_if_busy(instance)
            new = _create_operation(instance, operation.kind, actor, state=carried)
            instance.desired_state = _DESIRED_AFTER.get(operation.kind, DesiredState.RUNNING)
            instance.save(update_fields=["desired_state", "updated_at"])
        else:
            # The failure left the instance FAILED, which the normal transition table does not
            # allow for every kind (hibernate, wake…); a change made in place left it running.
            new = _lifecycle(instance, operation.kind, actor, check_status=operation.kind in IN_PLACE_KINDS)
        audit_log(actor=actor, action="operation.retry", target=operation, data={"new": str(new.id)})
        return new


# The parameters an operation's first run was given that a retry must be given again.
_RETRY_CARRIES: dict[str, tuple[str, ...]] = {OperationKind.RESTORE: ("source_backup_id", "previous_status"),
                  OperationKind.CLONE: ("source_backup_id",)}


def _check_retryable(operation: Operation, instance: Instance) -> None:
    if operation.status != OperationStatus.FAILED:
        raise NotRetryable("Only a failed operation can be retried.", details={"status": operation.status})
    if operation.kind == OperationKind.BACKUP:
        # Its backup is marked failed and its partial upload removed: a retry is a new backup.
        raise NotRetryable("A failed backup is not retried: take a new backup.", details={"kind": operation.kind})
    if operation.kind in _RETRY_CARRIES and "source_backup_id" not in operation.state:
        raise NotRetryable("This operation does not say which backup it restored: restore again from the backup.",
                           details={"kind": operation.kind})
    if operation.kind == OperationKind.UPDATE:
        # An update is one instance's part of a rollout: it is tried again by a new rollout (and
        # an instance its rollback left failed is started, or restored from the pre-update backup).
        raise NotRetryable("A failed update is not retried: start a new rollout, or start the instance.",
                           details={"kind": operation.kind})
    if instance.status == Status.DELETED or instance.deleted_at is not None:
        raise NotRetryable(f"Instance {instance.slug!r} is deleted.", details={"status": instance.status})
    latest = instance.operations.order_by("-created_at").first()
    if latest is not None and latest.pk != operation.pk:
        raise NotRetryable("A newer operation has run on this instance since; only the latest one can be retried.",
                           details={"latest_operation_id": str(latest.pk), "latest_kind": latest.kind})
    if operation.kind in IN_PLACE_KINDS:
        return  # the app kept serving; _lifecycle checks it still runs
    if instance.status != Status.FAILED:
        raise NotRetryable(f"Instance {instance.slug!r} is {instance.status}, not failed: nothing to retry.",
                           details={"status": instance.status})
    wanted = _DESIRED_AFTER.get(operation.kind, DesiredState.RUNNING)
    if instance.desired_state != wanted:
        # Decided since without an operation of its own (billing suspends an instance that never came up).
        raise NotRetryable(f"Instance {instance.slug!r} should now be {instance.desired_state}: retrying the "
                           f"{operation.kind} would undo that.", details={"desired_state": instance.desired_state})


ACTIVITY_RESOLUTION = timedelta(seconds=30)


def touch_activity(*, instance: Instance, at: datetime | None = None) -> None:
    """Record a request. Idle detection works in minutes, so a write every 30 s is plenty, and a
    visitor polling a starting page must not turn every poll into a database write."""
    at = at or timezone.now()
    if instance.last_request_at is not None and at - instance.last_request_at < ACTIVITY_RESOLUTION:
        return
    Instance.objects.filter(pk=instance.pk).update(last_request_at=at)
    instance.last_request_at = at
