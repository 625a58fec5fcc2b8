"""The steps of backup, restore and clone operations (plans in tenantry/instances/operations.py),
and what happens when one of them fails. Registered with the operation engine by `register()`.

An operation names its backups in its state: `backup_id` (the one a BACKUP operation writes),
`source_backup_id` (the one a RESTORE or CLONE reads), `safety_backup_id` (the copy a RESTORE
takes of the data it is about to replace).
"""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

from tenantry.backups import archive
from tenantry.backups.models import Backup, BackupKind, BackupStatus
from tenantry.backups.policy import final_backup_on_delete, target_for
from tenantry.catalog.backup_spec import BackupDump, VerifyCheck
from tenantry.catalog.templating import render
from tenantry.core.audit import audit_log
from tenantry.core.logging import get_logger
from tenantry.events.services import emit
from tenantry.instances.deployment import template_context
from tenantry.instances.models import OperationKind
from tenantry.instances.steps import (
    FAILURE_HANDLERS,
    STEPS,
    StepContext,
    publish_route,
    start_containers,
    stop_containers,
    wait_healthy,
)
from tenantry.instances.steps import _wait_ready as wait_ready
from tenantry.runtime.backends.base import BackendError, ExecResult

log = get_logger(__name__)


def _backup(ctx: StepContext, key: str) -> Backup:
    return Backup.objects.select_related("team", "instance").get(pk=ctx.operation.state[key])


def _volumes(ctx: StepContext) -> dict[str, str]:
    return archive.volume_names(ctx.instance, ctx.deployment, ctx.spec.backed_up_volumes())


def run_backup_dumps(ctx: StepContext) -> None:
    dumps = ctx.spec.backup.dumps
    state = ctx.runtime.state(ctx.deployment)
    running = {c.service for c in state.containers if c.running}
    if not dumps:
        ctx.log("the app declares no dump: its volumes are archived as they are")
    _make_dumps(ctx, dumps, running)
    # What a restore drill will compare the restored copy with (tenantry.backups.drills).
    expected = {}
    for check in ctx.spec.backup.verify:
        if check.service in running:
            expected[check.name] = verify_output(ctx, check)
    ctx.save_state(verify_expected=expected)


def verify_output(ctx: StepContext, check: VerifyCheck) -> str:
    """The sha256 of a spec's verification command's output in this instance."""
    context = template_context(ctx.instance, ctx.spec)
    result = ctx.runtime.exec(ctx.deployment, check.service, [render(a, context) for a in check.command],
                              timeout=check.timeout_seconds)
    if result.exit_code != 0:
        raise BackendError(f"the verification {check.name!r} failed (exit code {result.exit_code}): "
                           f"{ctx.redact(result.output[-500:])}", code="verify_failed")
    return hashlib.sha256(result.output.encode()).hexdigest()


def _make_dumps(ctx: StepContext, dumps: list[BackupDump], running: set[str]) -> None:
    context = template_context(ctx.instance, ctx.spec)
    made: list[str] = []
    for dump in dumps:
        if dump.service not in running:
            ctx.log(f"{dump.name}: {dump.service} is not running, its files are at rest")
            continue
        result = ctx.runtime.exec(ctx.deployment, dump.service, [render(a, context) for a in dump.command],
                                  timeout=dump.timeout_seconds)
        if result.exit_code != 0:
            raise BackendError(f"the dump {dump.name!r} failed (exit code {result.exit_code}): "
                               f"{ctx.redact(result.output[-500:])}", code="dump_failed")
        made.append(dump.name)
        ctx.log(f"{dump.name}: done")
    # The backup's manifest lists them: a restore applies only the dumps this backup made.
    ctx.save_state(dumps_made=made)


def save_backup(ctx: StepContext) -> None:
    backup = _backup(ctx, "backup_id")
    write_to_target(ctx, backup)


def write_to_target(ctx: StepContext, backup: Backup) -> None:
    """Write the instance's volumes as `backup` (used by other operations' steps too: updates)."""
    Backup.objects.filter(pk=backup.pk).update(status=BackupStatus.RUNNING, updated_at=timezone.now())
    ctx.log(f"target: {backup.target}")
    made = backup.kind != BackupKind.SAFETY  # a safety backup is read from stopped containers
    manifest = archive.write_backup(backup, runtime=ctx.runtime, deployment=ctx.deployment, volumes=_volumes(ctx),
                                    log=ctx.log, dumps=ctx.operation.state.get("dumps_made", []) if made else [])
    if made:
        manifest["verify"] = ctx.operation.state.get("verify_expected", {})
    now = timezone.now()
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).update(status=BackupStatus.SUCCEEDED, manifest=manifest,
                                                   size_bytes=archive.stored_size(manifest), completed_at=now,
                                                   error_code="", error_message="", updated_at=now)
        emit("backup.succeeded", team=ctx.instance.team,
             data={"backup_id": str(backup.pk), "instance_id": str(ctx.instance.pk), "slug": ctx.instance.slug,
                   "size_bytes": archive.stored_size(manifest)})
    ctx.log(f"backup {backup.pk} complete: {archive.stored_size(manifest) / 1_000_000:.1f} MB stored")


def verify_backup(ctx: StepContext) -> None:
    backup = _backup(ctx, "source_backup_id")
    if backup.status != BackupStatus.SUCCEEDED:
        raise BackendError(f"backup {backup.pk} is {backup.status}, not restorable", code="backup_not_restorable")
    archive.verify_backup(backup, ctx.log)


def safety_backup(ctx: StepContext) -> None:
    safety_id = ctx.operation.state.get("safety_backup_id")
    if safety_id is None:
        source = _backup(ctx, "source_backup_id")
        safety = Backup.objects.create(
            team=ctx.instance.team, instance=ctx.instance, instance_slug=ctx.instance.slug, app=ctx.instance.app,
            app_version=ctx.instance.app_version, kind=BackupKind.SAFETY, target=source.target,
            operation=ctx.operation, created_by=ctx.operation.actor)
        safety.prefix = f"{safety.team_id}/{safety.instance_id}/{safety.pk}"
        safety.save(update_fields=["prefix"])
        ctx.save_state(safety_backup_id=str(safety.pk))
    safety = _backup(ctx, "safety_backup_id")
    write_to_target(ctx, safety)


def restore_volumes(ctx: StepContext) -> None:
    backup = _backup(ctx, "source_backup_id")
    ctx.save_state(data_replaced=True)  # from here on, a failure puts the safety backup back
    archive.restore_volumes(backup, runtime=ctx.runtime, deployment=ctx.deployment, volumes=_volumes(ctx),
                            log=ctx.log)


def restore_dumps(ctx: StepContext) -> None:
    apply_dumps(ctx, _backup(ctx, "source_backup_id"))


def put_back(ctx: StepContext, backup: Backup) -> None:
    """Replace the instance's data with a backup's, as a restore does: its volumes, then its
    dumps (the app's containers must exist and be stopped). Used by the rollbacks of a failed
    restore and of a failed update."""
    archive.restore_volumes(backup, runtime=ctx.runtime, deployment=ctx.deployment, volumes=_volumes(ctx),
                            log=ctx.log)
    apply_dumps(ctx, backup)


def apply_dumps(ctx: StepContext, backup: Backup) -> None:
    """Put the backup's consistent copies in place of the raw files, before the app starts:
    the spec's volume commands, then its restore commands in their service, started alone."""
    made = set(backup.manifest.get("dumps", []))
    dumps = [dump for dump in ctx.spec.backup.dumps if dump.name in made and (dump.restore_volumes or dump.restore)]
    if not dumps:
        ctx.log("the backup holds no dump: its volumes are used as they are")
        return
    volumes = archive.volume_names(ctx.instance, ctx.deployment, [])
    context = template_context(ctx.instance, ctx.spec)
    for dump in dumps:
        for step in dump.restore_volumes:
            result = ctx.runtime.run_in_volume(ctx.deployment, volumes[step.volume],
                                               [render(a, context) for a in step.command], timeout=dump.timeout_seconds)
            _check(ctx, dump.name, result)
            ctx.log(f"{dump.name}: volume {step.volume} prepared")
        if dump.restore:
            ctx.runtime.start(ctx.deployment, service=dump.service)
            wait_ready(ctx, ctx.deployment.container(dump.service))
            result = ctx.runtime.exec(ctx.deployment, dump.service, [render(a, context) for a in dump.restore],
                                      timeout=dump.timeout_seconds)
            _check(ctx, dump.name, result)
        ctx.log(f"{dump.name}: restored from the dump")


def _check(ctx: StepContext, name: str, result: ExecResult) -> None:
    if result.exit_code != 0:
        raise BackendError(f"restoring the dump {name!r} failed (exit code {result.exit_code}): "
                           f"{ctx.redact(result.output[-500:])}", code="dump_restore_failed")


def restore_values(ctx: StepContext) -> None:
    backup = _backup(ctx, "source_backup_id")
    archive.replace_values(ctx.instance, archive.read_values(backup))
    # The containers are made from these values: forget what was derived from the fresh ones.
    ctx.__dict__.pop("deployment", None)
    ctx.secrets_changed()
    ctx.log("credentials restored from the backup")


# --- automatic backups in other operations (delete, archive, update) ----------------------------
# Operations after which a final backup no longer describes the instance's data.
_DATA_CHANGING = (OperationKind.PROVISION, OperationKind.START, OperationKind.RESUME, OperationKind.WAKE,
                  OperationKind.RESTART, OperationKind.RESTORE, OperationKind.CLONE)


def final_backup(ctx: StepContext) -> None:
    """The backup an instance leaves when it is archived (dunning) or deleted; kept by the
    retention (tenantry.backups.schedule). Deleting an archived instance keeps the one taken
    when it was archived."""
    skipped = _why_no_final_backup(ctx)
    if skipped:
        ctx.log(skipped)
        return
    _automatic_backup(ctx, BackupKind.FINAL, "final_backup_id")


def stop_for_final_backup(ctx: StepContext) -> None:
    """A deletion stops the app first only when a final backup is read from its volumes (at
    rest: consistent). Otherwise the containers are removed running: the data goes with them,
    and a graceful stop cost each deletion 0.5-1.2 s of the engine's time at scale (issue 15)."""
    skipped = _why_no_final_backup(ctx)
    if skipped:
        ctx.log(f"not stopped first ({skipped}): removing the containers ends them")
        return
    stop_containers(ctx)


def _why_no_final_backup(ctx: StepContext) -> str | None:
    """Why this operation leaves no new final backup; None when it takes one."""
    if ctx.instance.created_by.startswith("drill:"):
        return "a restore drill's scratch copy: nothing of its own to keep"
    if ctx.operation.kind == OperationKind.DELETE and not final_backup_on_delete(ctx.instance.team):
        return "no final backup: the plan (or the installation) deletes the data at once"
    if ctx.operation.state.get("final_backup_id") is None:
        last = (Backup.objects.filter(instance=ctx.instance, kind=BackupKind.FINAL, status=BackupStatus.SUCCEEDED)
                .order_by("-created_at").first())
        if last is not None and not ctx.instance.operations.filter(
                kind__in=_DATA_CHANGING, created_at__gt=last.created_at).exists():
            return f"the final backup {last.pk} of {last.created_at:%Y-%m-%d %H:%M} UTC still holds its data"
    return None


def pre_update_backup(ctx: StepContext) -> None:
    """A backup before an update changes the app's image (and maybe migrates its data). Its id
    stays in the operation's state as `backup_id`: the update's rollback restores from it
    (tenantry.updates.steps.update_failed)."""
    _automatic_backup(ctx, BackupKind.PRE_UPDATE, "backup_id")


def _automatic_backup(ctx: StepContext, kind: str, key: str) -> None:
    if ctx.instance.provisioned_at is None:
        ctx.log("the instance was never provisioned: no data to back up")
        return
    if ctx.operation.state.get(key) is None:
        backup = Backup.objects.create(
            team=ctx.instance.team, instance=ctx.instance, instance_slug=ctx.instance.slug, app=ctx.instance.app,
            app_version=ctx.instance.app_version, kind=kind, target=target_for(ctx.instance.team),
            operation=ctx.operation, created_by=ctx.operation.actor)
        backup.prefix = f"{backup.team_id}/{backup.instance_id}/{backup.pk}"
        backup.save(update_fields=["prefix"])
        ctx.save_state(**{key: str(backup.pk)})
    backup = _backup(ctx, key)
    if backup.status == BackupStatus.SUCCEEDED:  # a resumed operation: already made
        ctx.log(f"backup {backup.pk} already made")
        return
    try:
        run_backup_dumps(ctx)
        write_to_target(ctx, backup)
    except BackendError as exc:
        _mark_failed(ctx, str(backup.pk), exc)
        ctx.save_state(**{key: None})  # a retry starts a new backup
        raise


# --- failures --------------------------------------------------------------------------------
def backup_failed(ctx: StepContext, error: BackendError) -> bool:
    backup_id = ctx.operation.state.get("backup_id")
    if backup_id:
        _mark_failed(ctx, backup_id, error)
    return False


def restore_failed(ctx: StepContext, error: BackendError) -> bool:
    """Put the instance back as it was: the safety backup's data if the restore replaced any,
    then start it and check it answers. True when it does."""
    state = ctx.operation.state
    safety_id = state.get("safety_backup_id")
    if safety_id and not state.get("data_replaced"):
        # It never got to replace anything: the safety copy is not needed (nor, if it failed, kept).
        safety = Backup.objects.filter(pk=safety_id).first()
        if safety is not None and safety.status != BackupStatus.SUCCEEDED:
            _mark_failed(ctx, safety_id, error, notify=False)
    if not any(s.name == "route_to_edge" and s.status != "pending" for s in ctx.operation.steps.all()):
        # Failed while verifying: nothing was touched, the app is as it was.
        _notify(ctx, error, rolled_back=None)
        return state.get("previous_status") == "running"
    try:
        if state.get("data_replaced"):
            if not safety_id:
                raise BackendError("no safety backup to put back", code="no_safety_backup")
            safety = Backup.objects.select_related("team").get(pk=safety_id)
            ctx.log(f"putting the safety backup {safety.pk} back")
            ctx.runtime.stop(ctx.deployment.instance_id)
            put_back(ctx, safety)
        start_containers(ctx)
        wait_healthy(ctx)
        publish_route(ctx)
    except Exception as exc:  # the failure to report is the restore's; this one is logged with it
        message = exc.message if isinstance(exc, BackendError) else exc.__class__.__name__
        log.exception("restore.rollback_failed", instance=ctx.instance.slug)
        ctx.log(f"could not bring the previous data back: {message}")
        _notify(ctx, error, rolled_back=False)
        return False
    ctx.log("the previous data is back and the app answers")
    _notify(ctx, error, rolled_back=True)
    return True


def _mark_failed(ctx: StepContext, backup_id: str, error: BackendError, *, notify: bool = True) -> None:
    backup = Backup.objects.filter(pk=backup_id).select_related("team").first()
    if backup is None:
        return
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).update(status=BackupStatus.FAILED, error_code=error.code,
                                                   error_message=ctx.redact(error.message), updated_at=timezone.now())
        audit_log(actor="worker", action="backup.failed", target=backup, data={"code": error.code})
        emit("backup.failed", team=backup.team,
             data={"backup_id": str(backup.pk), "instance_id": str(ctx.instance.pk), "slug": ctx.instance.slug,
                   "error_code": error.code, "error_message": ctx.redact(error.message)[:500]})
    try:  # what was uploaded is unusable: do not leave it to be mistaken for a backup
        archive.delete_objects(backup)
    except BackendError as exc:
        ctx.log(f"could not remove the incomplete upload: {exc.message}")
    if notify:
        _notify(ctx, error, rolled_back=None)


def _notify(ctx: StepContext, error: BackendError, *, rolled_back: bool | None) -> None:
    from tenantry.backups.tasks import backup_failure_task

    operation_id, message = str(ctx.operation.pk), ctx.redact(error.message)
    transaction.on_commit(lambda: backup_failure_task(operation_id, message, rolled_back))


def register() -> None:
    STEPS.update({
        "run_backup_dumps": run_backup_dumps,
        "save_backup": save_backup,
        "verify_backup": verify_backup,
        "safety_backup": safety_backup,
        "restore_volumes": restore_volumes,
        "restore_values": restore_values,
        "restore_dumps": restore_dumps,
        "final_backup": final_backup,
        "stop_for_final_backup": stop_for_final_backup,
        "pre_update_backup": pre_update_backup,
        # The name archives used before the final backup was a backup (an operation resumed
        # across the upgrade finds its step).
        "archive_volumes": final_backup,
    })
    FAILURE_HANDLERS[OperationKind.BACKUP] = backup_failed
    FAILURE_HANDLERS[OperationKind.RESTORE] = restore_failed
