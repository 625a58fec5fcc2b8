"""Restore drills: proof that the latest backup of an instance restores.

A drill restores the backup into a scratch instance (the operators' team, its own private
network, a random name, never backed up itself), lets the clone operation run the app's health
check, then runs the app's verification commands (`backup.verify` in its spec) there and
compares their output with what the backup recorded when it was made. The scratch instance is
removed whatever happened; the result is recorded (RestoreDrill) and a failure alerts the
operators (and the team's owners) by email and shows in the metrics.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.accounts.services.teams import operator_team
from tenantry.backups.models import Backup, BackupKind, BackupStatus, DrillStatus, RestoreDrill
from tenantry.backups.policy import Policy, policy_for
from tenantry.catalog.registry import get_app
from tenantry.catalog.templating import render
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict
from tenantry.core.logging import get_logger
from tenantry.instances.deployment import build_deployment, template_context
from tenantry.instances.engine import run_operation
from tenantry.instances.models import Instance, Operation, OperationStatus, Status
from tenantry.runtime.backends.base import BackendError
from tenantry.runtime.registry import runtime_for

log = get_logger(__name__)
SCRATCH_ACTOR_PREFIX = "drill:"
OPERATION_TIMEOUT_SECONDS = 3600
# Drill-able: a backup that holds the instance's data as it was (not a safety copy mid-restore).
DRILLED_KINDS = (BackupKind.SCHEDULED, BackupKind.MANUAL, BackupKind.PRE_UPDATE, BackupKind.FINAL)


class NoBackupToDrill(Conflict):
    code = "no_backup_to_drill"


def is_scratch(instance: Instance) -> bool:
    return instance.created_by.startswith(SCRATCH_ACTOR_PREFIX)


def latest_backup(instance: Instance) -> Backup | None:
    return (Backup.objects.filter(instance=instance, status=BackupStatus.SUCCEEDED, kind__in=DRILLED_KINDS)
            .order_by("-created_at").first())


def drill_start(*, team: Team, instance: Instance, actor: str) -> RestoreDrill:
    """Queue a restore drill of the instance's latest backup (on demand)."""
    if instance.team_id != team.pk:  # callers look instances up scoped; this is the last guard
        raise ApplicationError("No such instance.", code="instance_not_found")
    backup = latest_backup(instance)
    if backup is None:
        raise NoBackupToDrill(f"{instance.slug} has no completed backup to restore yet.")
    with transaction.atomic():
        drill = RestoreDrill.objects.create(team=instance.team, instance=instance, backup=backup, actor=actor)
        audit_log(actor=actor, action="backup.drill", target=drill,
                  data={"instance": instance.slug, "backup": str(backup.pk)})
        drill_id = str(drill.pk)
        transaction.on_commit(lambda: _enqueue(drill_id))
    return drill


def _enqueue(drill_id: str) -> None:
    from tenantry.backups.tasks import drill_task

    drill_task(drill_id)


def drill_run(drill_id: str) -> RestoreDrill:
    """Run a queued drill to its end (a task). Never raises for the drill's own failure."""
    drill = RestoreDrill.objects.select_related("instance", "backup__team").get(pk=drill_id)
    if drill.status != DrillStatus.RUNNING:
        return drill
    checks: list[dict] = []
    scratch: Instance | None = None
    error: tuple[str, str] | None = None
    try:
        if drill.backup is None or drill.backup.status != BackupStatus.SUCCEEDED:
            raise BackendError("the backup to restore is gone", code="backup_gone")
        scratch = _restore_scratch(drill, checks)
        _verify(drill.backup, scratch, checks)
    except (BackendError, ApplicationError) as exc:
        error = (exc.code, exc.message)
    except Exception as exc:  # a drill that crashes is a failed drill, reported as such
        log.exception("drill.crashed", drill=drill_id)
        error = ("drill_crashed", exc.__class__.__name__)
    finally:
        if scratch is not None:
            _remove_scratch(scratch, checks)
    failed = error is not None or not all(check["ok"] for check in checks)
    if failed and error is None:
        bad = next(check for check in checks if not check["ok"])
        error = ("drill_check_failed", f"{bad['name']}: {bad['detail']}")
    code, message = error or ("", "")
    with transaction.atomic():
        RestoreDrill.objects.filter(pk=drill.pk).update(
            status=DrillStatus.FAILED if failed else DrillStatus.PASSED, checks=checks, error_code=code,
            error_message=message[:2000], completed_at=timezone.now(), updated_at=timezone.now())
        audit_log(actor="worker", action="backup.drill_failed" if failed else "backup.drill_passed", target=drill,
                  data={"instance": drill.instance.slug, "code": code})
        if failed:
            transaction.on_commit(lambda: _alert(drill_id))
    drill.refresh_from_db()
    return drill


def _restore_scratch(drill: RestoreDrill, checks: list[dict]) -> Instance:
    from tenantry.instances.services import instance_create

    assert drill.backup is not None
    slug = f"drill-{secrets.token_hex(5)}"
    scratch, operation = instance_create(team=operator_team(), slug=slug, app=drill.backup.app,
                                         actor=f"{SCRATCH_ACTOR_PREFIX}{drill.pk}",
                                         restore_backup_id=str(drill.backup.pk))
    operation = _finish(operation)
    ok = operation.status == OperationStatus.SUCCEEDED
    checks.append({"name": "restore", "ok": ok,
                   "detail": f"restored into {slug}" if ok else operation.error_message[:500]})
    if ok:
        checks.append({"name": "health", "ok": True, "detail": "the app answered its health check"})
    return scratch


def _verify(backup: Backup, scratch: Instance, checks: list[dict]) -> None:
    if not all(check["ok"] for check in checks):
        return
    scratch.refresh_from_db()
    spec = get_app(scratch.app)
    expected: dict[str, str] = backup.manifest.get("verify", {})
    deployment = build_deployment(scratch, spec)
    runtime = runtime_for(scratch.server)
    context = template_context(scratch, spec)
    for check in spec.backup.verify:
        if check.name not in expected:
            checks.append({"name": check.name, "ok": True,
                           "detail": "not recorded at backup time (the app was stopped): skipped"})
            continue
        result = runtime.exec(deployment, check.service, [render(a, context) for a in check.command],
                              timeout=check.timeout_seconds)
        got = hashlib.sha256(result.output.encode()).hexdigest()
        ok = result.exit_code == 0 and got == expected[check.name]
        detail = "the same as when the backup was made" if ok else (
            f"exit code {result.exit_code}" if result.exit_code else "differs from what the backup recorded")
        checks.append({"name": check.name, "ok": ok, "detail": detail})


def _remove_scratch(scratch: Instance, checks: list[dict]) -> None:
    from tenantry.instances.services import instance_delete

    try:
        operation = _finish(instance_delete(instance=Instance.objects.get(pk=scratch.pk), actor="worker"))
        ok = operation.status == OperationStatus.SUCCEEDED
        checks.append({"name": "cleanup", "ok": ok, "detail": "scratch instance removed" if ok
                       else operation.error_message[:500]})
    except ApplicationError as exc:
        checks.append({"name": "cleanup", "ok": False, "detail": exc.message})


def _finish(operation: Operation) -> Operation:
    """Run the operation here (or wait for the worker that claimed it): a drill is one task."""
    run_operation(str(operation.pk))
    deadline = time.monotonic() + OPERATION_TIMEOUT_SECONDS
    while True:
        operation.refresh_from_db()
        if operation.status in (OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED):
            return operation
        if time.monotonic() > deadline:
            raise BackendError("the scratch instance's operation did not finish in time", code="timeout")
        time.sleep(2)


def _alert(drill_id: str) -> None:
    from tenantry.backups.tasks import drill_alert_task

    drill_alert_task(drill_id)


def due_for_drill(now: datetime) -> list[Instance]:
    """Live customer instances whose policy's drill interval has passed since their last drill."""
    instances = [i for i in Instance.objects.exclude(status__in=[Status.DELETED, Status.ARCHIVED, Status.PENDING])
                 .select_related("team").order_by("created_at") if not is_scratch(i)]
    policies: dict[str, Policy] = {}
    due = []
    for instance in instances:
        policy = policies.setdefault(str(instance.team_id), policy_for(instance.team))
        if policy.drill_interval_days == 0 or latest_backup(instance) is None:
            continue
        last = instance.restore_drills.order_by("-created_at").first()
        if last is None or now - last.created_at >= timedelta(days=policy.drill_interval_days) - timedelta(hours=1):
            due.append(instance)
    return due


def drills_schedule(*, now: datetime | None = None) -> int:
    started = 0
    for instance in due_for_drill(now or timezone.now()):
        try:
            drill_start(team=instance.team, instance=instance, actor="scheduler:drills")
            started += 1
        except ApplicationError as exc:
            log.info("drills.schedule_skipped", instance=instance.slug, code=exc.code)
    return started
