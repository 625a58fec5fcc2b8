"""Runs operations: claims one, runs its steps in order, retries transient failures with
backoff, and keeps a heartbeat so that an operation whose worker died is resumed elsewhere.

Steps are idempotent, so resuming re-runs the step that was interrupted and converges.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from tenantry.core.audit import audit_log
from tenantry.core.logging import get_logger
from tenantry.instances.models import (
    Instance,
    Operation,
    OperationKind,
    OperationStatus,
    Status,
    Step,
    StepStatus,
)
from tenantry.instances.operations import IN_PLACE_KINDS, STATUS_AFTER, STATUS_DURING, enqueue_operation
from tenantry.instances.steps import STEPS, StepContext, cleanup_failed_provision
from tenantry.runtime.backends.base import BackendError, TransientBackendError

log = get_logger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _lease() -> timedelta:
    return timedelta(seconds=settings.TENANTRY["OPERATION_LEASE_SECONDS"])


def claim(operation_id: str) -> bool:
    """Take an operation that is pending, or running with an expired heartbeat (its worker died)."""
    now = timezone.now()
    claimed = (
        Operation.objects.filter(pk=operation_id)
        .filter(Q(status=OperationStatus.PENDING)
                | Q(status=OperationStatus.RUNNING, heartbeat_at__lt=now - _lease()))
        .update(status=OperationStatus.RUNNING, heartbeat_at=now, worker=worker_id(), updated_at=now)
    )
    return claimed == 1


class Heartbeat:
    """Refresh the operation's heartbeat from a side thread while its steps run."""

    def __init__(self, operation_id: str):
        self.operation_id = operation_id
        self.interval = max(0.5, settings.TENANTRY["OPERATION_LEASE_SECONDS"] / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat-{operation_id}")

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                Operation.objects.filter(pk=self.operation_id, status=OperationStatus.RUNNING).update(
                    heartbeat_at=timezone.now())
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_operation(operation_id: str) -> str | None:
    """Run (or resume) an operation. Returns its final status, or None when not claimed."""
    if not claim(operation_id):
        return None
    operation = Operation.objects.select_related("instance__server").get(pk=operation_id)
    instance = operation.instance
    now = timezone.now()
    Operation.objects.filter(pk=operation.pk).update(runs=F("runs") + 1, started_at=operation.started_at or now)
    if operation.kind not in IN_PLACE_KINDS:
        Instance.objects.filter(pk=instance.pk).update(status=STATUS_DURING[operation.kind], status_message="",
                                                       updated_at=now)
    instance.refresh_from_db()
    log.info("operation.start", operation=str(operation.id), kind=operation.kind, instance=instance.slug)
    ctx = StepContext(operation=operation, instance=instance)
    with Heartbeat(str(operation.id)):
        for step in operation.steps.order_by("position"):
            if step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
                continue
            error = _run_step(ctx, step)
            if error is not None:
                _fail(ctx, step, error)
                return OperationStatus.FAILED
    _succeed(ctx)
    return OperationStatus.SUCCEEDED


def _run_step(ctx: StepContext, step: Step) -> BackendError | None:
    max_attempts = settings.TENANTRY["STEP_MAX_ATTEMPTS"]
    base_delay = settings.TENANTRY["STEP_RETRY_BASE_SECONDS"]
    ctx.begin_step(step)
    step.status = StepStatus.RUNNING
    step.started_at = step.started_at or timezone.now()
    if step.attempts:
        ctx.log("resuming after an interruption")
    attempt = 0
    while True:
        attempt += 1
        step.attempts += 1
        # One write per attempt: a provisioning has a dozen steps and each write costs.
        step.save(update_fields=["status", "started_at", "attempts", "log"])
        try:
            STEPS[step.name](ctx)
        except TransientBackendError as exc:
            if attempt >= max_attempts:
                return BackendError(f"{exc.message} (gave up after {attempt} attempts)", code=exc.code)
            delay = base_delay * (2 ** (attempt - 1))
            ctx.log(f"temporary failure: {ctx.redact(exc.message)}; retrying in {delay:g} s")
            time.sleep(delay)
            continue
        except BackendError as exc:
            return exc
        except Exception as exc:  # a bug must fail the operation, not leave it running forever
            log.exception("operation.step_crashed", step=step.name, operation=str(ctx.operation.id))
            return BackendError(f"internal error in step {step.name}: {exc.__class__.__name__}", code="internal")
        step.status = StepStatus.SUCCEEDED
        step.finished_at = timezone.now()
        step.error = ""
        step.save(update_fields=["status", "finished_at", "error", "log"])
        return None


def _fail(ctx: StepContext, step: Step, error: BackendError) -> None:
    message = ctx.redact(error.message)
    step.status = StepStatus.FAILED
    step.error = message
    step.finished_at = timezone.now()
    step.save(update_fields=["status", "error", "finished_at", "log"])
    operation, instance = ctx.operation, ctx.instance
    in_place = operation.kind in IN_PLACE_KINDS
    if operation.kind == OperationKind.PROVISION:
        cleanup_failed_provision(ctx)  # a failed create leaves no container, network or volume
    elif operation.kind != OperationKind.DELETE and not in_place:
        ctx.try_route_to_edge()
    now = timezone.now()
    with transaction.atomic():
        Operation.objects.filter(pk=operation.pk).update(
            status=OperationStatus.FAILED, error_code=error.code, error_message=message, finished_at=now,
            updated_at=now)
        if not in_place:  # the app still runs as it did: only the change failed
            Instance.objects.filter(pk=instance.pk).update(status=Status.FAILED, status_message=message,
                                                           updated_at=now)
        audit_log(actor="worker", action=f"operation.{operation.kind}.failed", target=operation,
                  data={"step": step.name, "code": error.code})
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
    with transaction.atomic():
        Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.SUCCEEDED, finished_at=now,
                                                         updated_at=now)
        Instance.objects.filter(pk=instance.pk).update(**fields)
        if operation.kind == OperationKind.PROVISION:
            from tenantry.notifications.tasks import instance_ready_task

            transaction.on_commit(lambda: instance_ready_task(str(instance.pk)))
    log.info("operation.succeeded", operation=str(operation.id), kind=operation.kind, instance=instance.slug)


def resume_stale_operations() -> list[str]:
    """Re-queue operations whose worker died (expired heartbeat) or that never got picked up."""
    cutoff = timezone.now() - _lease()
    stale = Operation.objects.filter(
        Q(status=OperationStatus.RUNNING, heartbeat_at__lt=cutoff)
        | Q(status=OperationStatus.PENDING, created_at__lt=cutoff)
    ).values_list("pk", flat=True)
    resumed = [str(pk) for pk in stale]
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
