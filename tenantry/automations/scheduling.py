"""Scheduled workflows and hibernation: a hibernated app cannot fire its own schedules, so
Tenantry keeps a copy of each instance's time triggers (read while the app runs, and again just
before it hibernates), wakes the instance SCHEDULE_WAKE_LEAD_SECONDS ahead of the next run, and
lets it hibernate again once it has been idle for its idle timeout after that run."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenantry.automations.models import ScheduleTrigger
from tenantry.automations.schedules import CronError, next_fire, previous_fire
from tenantry.automations.services import app_call, automation_for
from tenantry.catalog.registry import get_catalog
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance, Status

log = get_logger(__name__)


def wake_lead() -> timedelta:
    return timedelta(seconds=settings.TENANTRY["SCHEDULE_WAKE_LEAD_SECONDS"])


def _next(trigger: ScheduleTrigger, after: datetime) -> datetime | None:
    try:
        return next_fire(trigger.expressions, trigger.time_zone, after)
    except CronError:
        return None


def schedules_sync(*, instance: Instance, now: datetime | None = None) -> list[ScheduleTrigger]:
    """Read the app's time triggers and replace the stored copy (the instance must be running)."""
    backend = automation_for(instance)
    schedules = app_call(backend.schedules)
    now = now or timezone.now()
    kept = []
    with transaction.atomic():
        for schedule in schedules:
            error, upcoming = "", None
            try:
                upcoming = next_fire(schedule.expressions, schedule.time_zone, now)
                if upcoming is None:
                    error = "never fires"
            except CronError as exc:
                error = str(exc)[:300]
            trigger, _ = ScheduleTrigger.objects.update_or_create(
                instance=instance, workflow_id=schedule.workflow_id, node=schedule.node[:200],
                defaults={"workflow_name": schedule.workflow_name[:200], "expressions": list(schedule.expressions),
                          "time_zone": schedule.time_zone, "next_fire_at": upcoming, "error": error})
            kept.append(trigger)
        ScheduleTrigger.objects.filter(instance=instance).exclude(pk__in=[t.pk for t in kept]).delete()
    return kept


def schedules_sync_quietly(*, instance: Instance) -> bool:
    """Best effort (before hibernating, each few minutes): the stored copy stays when the app
    cannot be read. True when it was read."""
    try:
        schedules_sync(instance=instance)
    except ApplicationError as exc:
        log.info("automations.schedules_skipped", instance=instance.slug, reason=exc.code)
        return False
    return True


def next_scheduled_run(*, instance: Instance, after: datetime) -> datetime | None:
    found = [_next(t, after) for t in instance.schedule_triggers.all()]
    return min((f for f in found if f is not None), default=None)


def last_scheduled_run(*, instance: Instance, before: datetime) -> datetime | None:
    found = []
    for trigger in instance.schedule_triggers.all():
        try:
            found.append(previous_fire(trigger.expressions, trigger.time_zone, before))
        except CronError:
            continue
    return max((f for f in found if f is not None), default=None)


def schedule_holds_awake(*, instance: Instance, now: datetime, idle: timedelta) -> bool:
    """Whether a running instance must stay up for its schedules: a run is due within the wake
    lead (hibernating now would only wake it again), or the last run was less than `idle` ago."""
    upcoming = next_scheduled_run(instance=instance, after=now)
    if upcoming is not None and upcoming - now <= wake_lead():
        return True
    last = last_scheduled_run(instance=instance, before=now)
    return last is not None and now - last < idle


def wake_for_schedules(now: datetime | None = None) -> list[str]:
    """Wake every hibernated instance whose next scheduled run is within the wake lead."""
    from tenantry.instances.services import instance_wake

    now = now or timezone.now()
    woken = []
    sleeping = (Instance.objects.filter(status=Status.HIBERNATED, schedule_triggers__isnull=False)
                .distinct().prefetch_related("schedule_triggers"))
    for instance in sleeping:
        upcoming = next_scheduled_run(instance=instance, after=now)
        if upcoming is None or upcoming - now > wake_lead():
            continue
        try:
            instance_wake(instance=instance, actor="schedule")
        except ApplicationError as exc:  # busy, or no longer hibernated
            log.info("automations.schedule_wake_skipped", instance=instance.slug, reason=exc.code)
            continue
        audit_log(actor="schedule", action="instance.schedule_wake", target=instance,
                  data={"next_run": upcoming.isoformat()})
        woken.append(instance.slug)
    return woken


def sync_all_schedules() -> int:
    """Every running, set-up automation instance: refresh its stored triggers (for the wake plan
    and the dashboard). One app's trouble does not stop the others."""
    apps = [name for name, spec in get_catalog().items() if spec.automation is not None]
    return sum(schedules_sync_quietly(instance=i) for i in Instance.objects.filter(
        app__in=apps, status=Status.RUNNING, provisioned_at__isnull=False))
