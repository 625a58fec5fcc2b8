"""Rolling a new app version out to instances, and the teams' maintenance windows.

`rollout_create` chooses the targets (chosen instances, a percentage, or all of an app's
running instances that are not on the version yet); `rollout_advance` starts their `update`
operations a few at a time, each when its team's maintenance window is open, and stops the
rollout once more than `max_failures` failed. It runs when an update ends and every minute.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.catalog.registry import get_app
from tenantry.catalog.versions import known_versions
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, ValidationError
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance, OperationKind, OperationStatus, Status
from tenantry.instances.operations import create_operation
from tenantry.instances.services import OperationInProgress, refuse_if_busy
from tenantry.updates.models import (
    FAILED_TARGET_STATUSES,
    MaintenanceWindow,
    Rollout,
    RolloutScope,
    RolloutStatus,
    RolloutTarget,
    TargetStatus,
)

log = get_logger(__name__)

MAX_CONCURRENCY = 20
# The instances an update applies to: it boots the app, so only running ones (a stopped or
# hibernated instance is left as it is; include it in a later rollout once it runs).
UPDATABLE = (Status.RUNNING,)


class RolloutFinished(Conflict):
    code = "rollout_finished"


def _check_version(app: str, to_version: str) -> None:
    spec = get_app(app)
    if to_version not in known_versions(spec):
        raise ValidationError(f"App {app!r} has no version {to_version!r}; the catalog knows "
                              f"{', '.join(known_versions(spec))}.", code="unknown_version",
                              details={"field": "to_version", "known": known_versions(spec)})


def rollout_create(*, app: str, to_version: str, actor: str, instances: list[Instance] | None = None,
                   percent: int | None = None, max_failures: int = 0, concurrency: int = 1,
                   respect_windows: bool = True) -> Rollout:
    """Start moving instances of `app` to `to_version`: the given `instances`, else `percent` of
    the app's running instances not on that version (rounded up, picked at random), else all."""
    _check_version(app, to_version)
    if instances is not None and percent is not None:
        raise ValidationError("Give either instances or a percentage, not both.", details={"field": "percent"})
    if percent is not None and not 1 <= percent <= 100:
        raise ValidationError("percent must be between 1 and 100.", details={"field": "percent"})
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValidationError(f"concurrency must be between 1 and {MAX_CONCURRENCY}.",
                              details={"field": "concurrency"})
    if max_failures < 0:
        raise ValidationError("max_failures cannot be negative.", details={"field": "max_failures"})
    with transaction.atomic():
        if instances is not None:
            scope = RolloutScope.INSTANCES
            chosen = list(Instance.objects.filter(pk__in=[i.pk for i in instances]).order_by("slug"))
            for instance in chosen:
                if instance.app != app:
                    raise ValidationError(f"{instance.slug} runs {instance.app}, not {app}.", code="app_mismatch",
                                          details={"field": "instances", "instance": instance.slug})
                if instance.app_version == to_version:
                    raise ValidationError(f"{instance.slug} already runs version {to_version}.",
                                          code="already_on_version", details={"instance": instance.slug})
        else:
            eligible = list(Instance.objects.filter(app=app, status__in=UPDATABLE).exclude(app_version=to_version)
                            .order_by("slug"))
            scope = RolloutScope.ALL if percent is None else RolloutScope.PERCENT
            count = len(eligible) if percent is None else math.ceil(len(eligible) * percent / 100)
            chosen = random.sample(eligible, count)
        if not chosen:
            raise ValidationError(f"No instance of {app} needs version {to_version}.", code="nothing_to_update")
        rollout = Rollout.objects.create(app=app, to_version=to_version, scope=scope, percent=percent,
                                         max_failures=max_failures, concurrency=concurrency,
                                         respect_windows=respect_windows, actor=actor)
        RolloutTarget.objects.bulk_create([
            RolloutTarget(rollout=rollout, instance=instance, position=position, from_version=instance.app_version)
            for position, instance in enumerate(chosen, start=1)])
        audit_log(actor=actor, action="rollout.create", target=rollout,
                  data={"app": app, "to_version": to_version, "scope": scope, "percent": percent,
                        "instances": [i.slug for i in chosen]})
        rollout_id = str(rollout.pk)
        transaction.on_commit(lambda: _advance_soon(rollout_id))
    return rollout


def _advance_soon(rollout_id: str) -> None:
    from tenantry.updates.tasks import rollout_advance_task

    rollout_advance_task(rollout_id)


def rollout_cancel(*, rollout: Rollout, actor: str) -> Rollout:
    """Stop starting updates; the ones running finish (and roll back by themselves if they fail)."""
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().get(pk=rollout.pk)
        if rollout.status != RolloutStatus.RUNNING:
            raise RolloutFinished(f"This rollout is {rollout.status} already.", details={"status": rollout.status})
        _finish(rollout, RolloutStatus.CANCELLED, f"cancelled by {actor}")
        audit_log(actor=actor, action="rollout.cancel", target=rollout)
    return rollout


def _finish(rollout: Rollout, status: str, message: str) -> None:
    now = timezone.now()
    rollout.targets.filter(status=TargetStatus.PENDING).update(status=TargetStatus.SKIPPED, message=message,
                                                               finished_at=now)
    rollout.status, rollout.status_message, rollout.finished_at = status, message, now
    rollout.save(update_fields=["status", "status_message", "finished_at", "updated_at"])


def _sync_outcomes(rollout: Rollout) -> None:
    """Targets whose update operation ended take its outcome."""
    running = rollout.targets.filter(status=TargetStatus.RUNNING).select_related("operation")
    for target in running:
        operation = target.operation
        if operation is None or operation.is_active:
            continue
        if operation.status == OperationStatus.SUCCEEDED:
            status, message = TargetStatus.SUCCEEDED, ""
        elif operation.status == OperationStatus.FAILED:
            rolled_back = operation.state.get("rolled_back", False)
            status = TargetStatus.ROLLED_BACK if rolled_back else TargetStatus.FAILED
            message = operation.error_message
        else:
            status, message = TargetStatus.SKIPPED, operation.error_message
        RolloutTarget.objects.filter(pk=target.pk).update(status=status, message=message[:2000],
                                                          finished_at=operation.finished_at or timezone.now())


def rollout_advance(*, rollout_id: str, now: datetime | None = None) -> Rollout:
    """Record the outcome of finished updates, stop after too many failures, start the next
    updates whose maintenance window is open, and complete the rollout when none is left."""
    now = now or timezone.now()
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().get(pk=rollout_id)
        if rollout.status != RolloutStatus.RUNNING:
            return rollout
        _sync_outcomes(rollout)
        failures = rollout.targets.filter(status__in=FAILED_TARGET_STATUSES).count()
        if failures > rollout.max_failures:
            _finish(rollout, RolloutStatus.HALTED,
                    f"stopped: {failures} update(s) failed, more than the {rollout.max_failures} allowed")
            audit_log(actor="worker", action="rollout.halted", target=rollout, data={"failures": failures})
            log.warning("rollout.halted", rollout=str(rollout.pk), failures=failures)
            return rollout
        slots = rollout.concurrency - rollout.targets.filter(status=TargetStatus.RUNNING).count()
        pending = list(rollout.targets.filter(status=TargetStatus.PENDING).select_related("instance__team")
                       .order_by("position"))
        for target in pending:
            if slots <= 0:
                break
            if _start(rollout, target, now):
                slots -= 1
        if not rollout.targets.filter(status__in=(TargetStatus.PENDING, TargetStatus.RUNNING)).exists():
            done = rollout.targets.filter(status=TargetStatus.SUCCEEDED).count()
            _finish(rollout, RolloutStatus.COMPLETED, f"{done} of {rollout.targets.count()} instance(s) updated")
    return rollout


def _start(rollout: Rollout, target: RolloutTarget, now: datetime) -> bool:
    """Start one target's update. False when it must wait (window closed, instance busy)."""
    instance = Instance.objects.select_for_update().get(pk=target.instance_id)
    skip = None
    if instance.app_version == rollout.to_version:
        skip = f"already on version {rollout.to_version}"
    elif instance.status not in UPDATABLE:
        skip = f"not updated while {instance.status}"
    if skip is not None:
        RolloutTarget.objects.filter(pk=target.pk).update(status=TargetStatus.SKIPPED, message=skip, finished_at=now)
        return False
    if rollout.respect_windows and not window_open(instance.team, now):
        return False
    try:
        refuse_if_busy(instance)
        with transaction.atomic():
            operation = create_operation(instance=instance, kind=OperationKind.UPDATE, actor=rollout.actor,
                                         state={"from_version": instance.app_version,
                                                "to_version": rollout.to_version, "rollout_id": str(rollout.pk)})
    except (OperationInProgress, IntegrityError):
        return False  # busy: tried again at the next pass
    RolloutTarget.objects.filter(pk=target.pk).update(status=TargetStatus.RUNNING, operation=operation,
                                                      from_version=instance.app_version)
    audit_log(actor=rollout.actor, action="instance.update", target=instance,
              data={"from": instance.app_version, "to": rollout.to_version, "operation": str(operation.pk)})
    return True


def advance_running_rollouts() -> list[str]:
    """The periodic pass: windows open, busy instances free up, a lost wake-up is caught."""
    ids = [str(pk) for pk in Rollout.objects.filter(status=RolloutStatus.RUNNING).values_list("pk", flat=True)]
    for rollout_id in ids:
        rollout_advance(rollout_id=rollout_id)
    return ids


# --- maintenance windows ------------------------------------------------------------------------
def window_open(team: Team, at: datetime) -> bool:
    window = MaintenanceWindow.objects.filter(team=team).first()
    return window is None or window.is_open(at)


def maintenance_window_set(*, team: Team, actor: str, start_time: time, duration_minutes: int,
                           weekdays: list[int] | None = None, tz: str = "UTC") -> MaintenanceWindow:
    weekdays = sorted(set(weekdays or []))
    if start_time.tzinfo is not None:  # the window is wall-clock time in `tz`; an offset means nothing
        raise ValidationError("start_time is a local time in the window's time zone, without an offset "
                              "(e.g. 02:00).", details={"field": "start_time"})
    if any(not 0 <= day <= 6 for day in weekdays):
        raise ValidationError("weekdays are 0 (Monday) to 6 (Sunday).", details={"field": "weekdays"})
    if not 30 <= duration_minutes <= 24 * 60:
        raise ValidationError("duration_minutes must be between 30 and 1440.", details={"field": "duration_minutes"})
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone {tz!r}.", details={"field": "timezone"}) from exc
    with transaction.atomic():
        window, _ = MaintenanceWindow.objects.update_or_create(
            team=team, defaults={"start_time": start_time, "duration_minutes": duration_minutes,
                                 "weekdays": weekdays, "timezone": tz})
        audit_log(actor=actor, action="team.maintenance_window.set", target=window,
                  data={"start_time": start_time.isoformat(), "duration_minutes": duration_minutes,
                        "weekdays": weekdays, "timezone": tz})
    return window


def maintenance_window_clear(*, team: Team, actor: str) -> None:
    with transaction.atomic():
        window = MaintenanceWindow.objects.filter(team=team).first()
        if window is not None:
            audit_log(actor=actor, action="team.maintenance_window.clear", target=window)
            window.delete()
