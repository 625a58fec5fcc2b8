"""The steps of an update operation (plan in tenantry/instances/operations.py) and its
automatic rollback. Registered with the operation engine by `register()`.

The operation's state says what to move between: `from_version`, `to_version`; and how far it
got: `backup_id` (the pre-update backup), `switched` (the new images were put in place: from
then on a failure goes back to the old ones), `rolled_back` (the rollback brought the app back).
"""

from __future__ import annotations

from tenantry.backups.models import Backup, BackupStatus
from tenantry.backups.steps import backup_failed, put_back
from tenantry.catalog.versions import version_images, version_migrates_data
from tenantry.core.logging import get_logger
from tenantry.instances.deployment import resolve_image
from tenantry.instances.models import Instance, OperationKind
from tenantry.instances.steps import (
    FAILURE_HANDLERS,
    FINISHED_CALLBACKS,
    STEPS,
    StepContext,
    publish_route,
    start_containers,
    wait_healthy,
)
from tenantry.runtime.backends.base import BackendError

log = get_logger(__name__)


def _use_version(ctx: StepContext, version: str) -> None:
    """The instance runs `version` from now on: its row, and the deployment made from it."""
    Instance.objects.filter(pk=ctx.instance.pk).update(app_version=version)
    ctx.instance.app_version = version
    ctx.__dict__.pop("deployment", None)


def check_update_images(ctx: StepContext) -> None:
    version = ctx.operation.state["to_version"]
    images = [resolve_image(image) for image in version_images(ctx.spec, version)]
    missing = ctx.runtime.missing_images(images)
    if missing:
        raise BackendError(f"Version {version} needs image(s) {', '.join(missing)}, which are not on this Docker "
                           "host: build or load them first.", code="image_missing")
    ctx.log(f"version {version}: images present: {', '.join(images)}")


def switch_version(ctx: StepContext) -> None:
    state = ctx.operation.state
    before = {c.service: c.image for c in ctx.deployment.containers}
    ctx.save_state(switched=True)  # from here on, a failure puts the old version back
    _use_version(ctx, state["to_version"])
    ctx.runtime.stop(ctx.deployment.instance_id)
    changed = ctx.runtime.ensure_containers(ctx.deployment)
    for container in ctx.deployment.containers:
        ctx.log(f"{container.service}: {before.get(container.service)} → {container.image}")
    ctx.log(f"recreated: {', '.join(changed)}" if changed else "containers already on the new images")


def finish_update(ctx: StepContext) -> None:
    state = ctx.operation.state
    ctx.log(f"{ctx.instance.slug} runs version {state['to_version']} (was {state['from_version']})")


# --- failure: the automatic rollback ------------------------------------------------------------
def update_failed(ctx: StepContext, error: BackendError) -> bool:
    """Bring the previous version back: its images, and the pre-update backup's data when the
    new version may have migrated it. True when the app answers again as before."""
    state = ctx.operation.state
    backup = Backup.objects.filter(pk=state.get("backup_id")).select_related("team").first()
    if backup is not None and backup.status != BackupStatus.SUCCEEDED:
        backup_failed(ctx, error)  # the pre-update backup is what failed: marked, owner told
    try:
        if state.get("switched"):
            ctx.log(f"rolling back to version {state['from_version']}")
            ctx.runtime.stop(ctx.deployment.instance_id)
            _use_version(ctx, state["from_version"])
            ctx.runtime.ensure_containers(ctx.deployment)  # the old images; the dumps are loaded in them
            if version_migrates_data(ctx.spec, state["to_version"]):
                if backup is None or backup.status != BackupStatus.SUCCEEDED:
                    raise BackendError("no pre-update backup to put back", code="no_pre_update_backup")
                ctx.log(f"putting the pre-update backup {backup.pk} back (the new version may have changed the data)")
                put_back(ctx, backup)  # volumes and dumps, as a restore does
            start_containers(ctx)
            wait_healthy(ctx)
        publish_route(ctx)
    except Exception as exc:  # the failure to report is the update's; this one is logged with it
        message = exc.message if isinstance(exc, BackendError) else exc.__class__.__name__
        log.exception("update.rollback_failed", instance=ctx.instance.slug)
        ctx.log(f"the rollback failed too: {ctx.redact(message)}")
        return False
    ctx.save_state(rolled_back=True)
    ctx.log(f"rolled back: version {ctx.instance.app_version} answers again")
    return True


def update_finished(operation_id: str) -> None:
    """The outcome is recorded: let the rollout it belongs to move on (next instance, or stop)."""
    from tenantry.updates.models import RolloutTarget
    from tenantry.updates.tasks import rollout_advance_task

    rollout_id = RolloutTarget.objects.filter(operation_id=operation_id).values_list("rollout_id", flat=True).first()
    if rollout_id is not None:
        rollout_advance_task(str(rollout_id))


def register() -> None:
    STEPS.update({
        "check_update_images": check_update_images,
        # pre_update_backup: the backups app's (tenantry.backups.steps), policy target and dumps.
        "switch_version": switch_version,
        "finish_update": finish_update,
    })
    FAILURE_HANDLERS[OperationKind.UPDATE] = update_failed
    FINISHED_CALLBACKS[OperationKind.UPDATE] = update_finished
