"""Runs operations: claims one, runs its steps in order, retries transient failures with
backoff, and keeps a heartbeat so that an operation whose worker died is resumed elsewhere.

Steps are idempotent, so resuming re-runs the step that was interrupted and converges. The claim
is fenced (tenantry/instances/lease.py): a worker that lost its lease stops at its next write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from tenantry.core.audit import audit_log
from tenantry.core.doorbell import edge_doorbells, ready_message, ring
from tenantry.core.logging import bind_operation_context, clear_operation_context, get_logger
from tenantry.instances.events import emit_operation_finished
from tenantry.instances.lease import Lease, LeaseLost, claim, lease_duration
from tenantry.instances.models import (
    Instance,
    Operation,
    OperationKind,
    OperationStatus,
    Status,
    Step,
    StepStatus,
)
from tenantry.instances.operations import (
    CREATING_KINDS,
    HANDOVER_AFTER_STEP,
    IN_PLACE_KINDS,
    STATUS_AFTER,
    STATUS_DURING,
    enqueue_operation,
)
from tenantry.instances.steps import (
    FAILURE_HANDLERS,
    FINISHED_CALLBACKS,
    STEPS,
    StepContext,
    cleanup_failed_provision,
)
from tenantry.runtime.backends.base import BackendError, TransientBackendError

log = get_logger(__name__)


def run_operation(operation_id: str) -> str | None:
    """Run (or resume) an operation. Returns its final status, or None when not claimed or when
    the lease was lost on the way (another worker has it now)."""
    token = claim(operation_id)
    if token is None:
        return None
    lease = Lease(operation_id, token)
    try:
        with lease:
            status = _run_claimed(lease)
    except LeaseLost:
        log.warning("operation.abandoned", operation=operation_id, token=token)
        return None
    finally:
        clear_operation_context()
    _finished(operation_id)  # once the lease is released: the callback may run other operations
    return status


def _run_claimed(lease: Lease) -> str:
    operation = Operation.objects.select_related("instance__server", "instance__team").get(pk=lease.operation_id)
    instance = operation.instance
    # Every line logged while it runs (steps, backends) says which instance, team and operation.
    bind_operation_context(instance=instance.slug, team=instance.team.slug, operation=str(operation.id),
                           kind=operation.kind)
    now = timezone.now()
    with transaction.atomic():
        if instance.status == Status.DELETED and operation.kind != OperationKind.DELETE:
            # Nothing may bring a deleted instance back (its name may belong to another one now).
            lease.finish_operation(status=OperationStatus.CANCELLED, error_code="instance_deleted",
                                   error_message="The instance was deleted.", finished_at=now, updated_at=now)
            log.warning("operation.cancelled", operation=str(operation.id), reason="instance_deleted")
            return OperationStatus.CANCELLED
        lease.update_operation(updated_at=now)  # still ours: the instance's status follows
        if operation.kind not in IN_PLACE_KINDS:
            Instance.objects.filter(pk=instance.pk).update(status=STATUS_DURING[operation.kind], status_message="",
                                                           updated_at=now)
    instance.refresh_from_db()
    log.info("operation.start", operation=str(operation.id), kind=operation.kind, instance=instance.slug,
             token=lease.token)
    ctx = StepContext(operation=operation, instance=instance, lease=lease)
    for step in operation.steps.order_by("position"):
        if step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            continue
        error = _run_step(ctx, step)
        if error is not None:
            _fail(ctx, step, error)
            ring(edge_doorbells())  # a request held for the app stops waiting for it
            return OperationStatus.FAILED
    _succeed(ctx)
    ring(edge_doorbells())
    return OperationStatus.SUCCEEDED


def _run_step(ctx: StepContext, step: Step) -> BackendError | None:
    max_attempts = settings.TENANTRY["STEP_MAX_ATTEMPTS"]
    base_delay = settings.TENANTRY["STEP_RETRY_BASE_SECONDS"]
    lease = ctx.lease
    ctx.begin_step(step)
    step.started_at = step.started_at or timezone.now()
    if step.attempts:
        ctx.log("resuming after an interruption")
    attempt = 0
    while True:
        attempt += 1
        step.attempts += 1
        # One write per attempt: a provisioning has a dozen steps and each write costs.
        lease.update_step(step, status=StepStatus.RUNNING, started_at=step.started_at, attempts=step.attempts,
                          log=step.log)
        try:
            STEPS[step.name](ctx)
        except LeaseLost:
            raise
        except TransientBackendError as exc:
            if attempt >= max_attempts:
                return BackendError(f"{exc.message} (gave up after {attempt} attempts)", code=exc.code)
            delay = base_delay * (2 ** (attempt - 1))
            ctx.log(f"temporary failure: {ctx.redact(exc.message)}; retrying in {delay:g} s")
            lease.sleep(delay)
            continue
        except BackendError as exc:
            return exc
        except Exception as exc:  # a bug must fail the operation, not leave it running forever
            log.exception("operation.step_crashed", step=step.name, operation=str(ctx.operation.id))
            return BackendError(f"internal error in step {step.name}: {exc.__class__.__name__}", code="internal")
        handover = step.name == HANDOVER_AFTER_STEP.get(ctx.operation.kind)
        if handover:
            # The app answers: a request held while it came up may go to it now (tenantry.edge.
            # holding), without waiting for the write below. The ring says which instance, so the
            # edge does not read it back from the database either.
            ring(edge_doorbells(), ready_message(str(ctx.instance.pk)))
        # The step's work may have outlived the lease (a blocking call): then this write is
        # refused and another worker, which has re-run the step, records it.
        lease.update_step(step, status=StepStatus.SUCCEEDED, finished_at=timezone.now(), error="", log=step.log)
        if handover:
            # Again once written: a request that arrived in between read the step as not done
            # and would otherwise wait for the operation's end.
            ring(edge_doorbells(), ready_message(str(ctx.instance.pk)))
        step.status = StepStatus.SUCCEEDED
        return None


def has_run(instance: Instance) -> bool:
    """The app came up once (first-start tasks done, or it was running): its volumes hold the
    customer's data from then on, and no failure may remove them."""
    return instance.provisioned_at is not None or instance.running_since is not None


def _fail(ctx: StepContext, step: Step, error: BackendError) -> None:
    lease = ctx.lease
    lease.check()  # a worker that lost the operation neither cleans up nor records anything
    message = ctx.redact(error.message)
    operation = ctx.operation
    instance = Instance.objects.get(pk=ctx.instance.pk)  # as it is now, not as the run began
    in_place = operation.kind in IN_PLACE_KINDS
    handler = FAILURE_HANDLERS.get(operation.kind)
    # A kind with its own recovery (a restore puts the safety backup back) says whether the app
    # runs as before; then only the change failed, as for an in-place change.
    recovered = handler(ctx, error) if handler is not None else False
    if operation.kind in CREATING_KINDS and not has_run(instance):
        cleanup_failed_provision(ctx)  # a failed create leaves no container, network or volume
    elif operation.kind != OperationKind.DELETE and not in_place and not recovered:
        ctx.try_route_to_edge()
    lease.update_step(step, status=StepStatus.FAILED, error=message, finished_at=timezone.now(), log=step.log)
    now = timezone.now()
    with transaction.atomic():
        lease.finish_operation(status=OperationStatus.FAILED, error_code=error.code, error_message=message,
                               finished_at=now, updated_at=now)
        if recovered:
            Instance.objects.filter(pk=instance.pk).update(status=Status.RUNNING, status_message=message,
                                                           running_since=now, updated_at=now)
        elif not in_place:  # the app still runs as it did: only the change failed
            Instance.objects.filter(pk=instance.pk).update(status=Status.FAILED, status_message=message,
                                                           updated_at=now)
        audit_log(actor="worker", action=f"operation.{operation.kind}.failed", target=operation,
                  data={"step": step.name, "code": error.code})
        emit_operation_finished(Operation.objects.get(pk=operation.pk), in_place=in_place)
    log.warning("operation.failed", operation=str(operation.id), kind=operation.kind, step=step.name,
                code=error.code)


def _succeed(ctx: StepContext) -> None:
    operation, instance = ctx.operation, ctx.instance
    now = timezone.now()
    fields: dict[str, object] = {"status": STATUS_AFTER[operation.kind], "status_message": "", "updated_at": now}
    if operation.kind in IN_PLACE_KINDS:
        fields = {"updated_at": now}
    elif fields["status"] == Status.RUNNING:
        fields["running_since"] = now
    if operation.kind == OperationKind.DELETE:
        fields.update(deleted_at=now, subnet=None)
    if operation.kind == OperationKind.CLONE:
        fields["provisioned_at"] = now  # its data came from the backup: never "first-start" it again
    with transaction.atomic():
        ctx.lease.finish_operation(status=OperationStatus.SUCCEEDED, finished_at=now, updated_at=now)
        Instance.objects.filter(pk=instance.pk).update(**fields)
        emit_operation_finished(Operation.objects.get(pk=operation.pk), in_place=operation.kind in IN_PLACE_KINDS)
    log.info("operation.succeeded", operation=str(operation.id), kind=operation.kind, instance=instance.slug)


def _finished(operation_id: str) -> None:
    kind = Operation.objects.filter(pk=operation_id).values_list("kind", flat=True).first()
    callback = FINISHED_CALLBACKS.get(kind or "")
    if callback is not None:
        callback(operation_id)


def stale_operation_ids() -> list[str]:
    """Operations whose worker died (expired heartbeat) or that never got picked up."""
    cutoff = timezone.now() - lease_duration()
    stale = Operation.objects.filter(
        Q(status=OperationStatus.RUNNING, heartbeat_at__lt=cutoff)
        | Q(status=OperationStatus.PENDING, created_at__lt=cutoff)
    ).values_list("pk", flat=True)
    return [str(pk) for pk in stale]


def resume_stale_operations() -> list[str]:
    """Re-queue operations whose worker died (expired heartbeat) or that never got picked up."""
    resumed = stale_operation_ids()
    for operation_id in resumed:
        log.info("operation.resume", operation=operation_id)
        enqueue_operation(operation_id)
    return resumed


def run_operation_safely(operation_id: str) -> str | None:
    close_old_connections()
    try:
        return run_operation(operation_id)
    finally:
        close_old_connections()
