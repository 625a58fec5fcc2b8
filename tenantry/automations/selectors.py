from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from tenantry.automations.models import ExecutionRecord, ScheduleTrigger, WordPressConnection
from tenantry.automations.schedules import CronError, next_fire
from tenantry.instances.models import Instance


def execution_list(*, instance: Instance, workflow_id: str | None = None) -> QuerySet[ExecutionRecord]:
    """Executions of an instance the caller already holds through a team-scoped selector."""
    records = ExecutionRecord.objects.filter(instance=instance).order_by("-started_at", "-created_at")
    if workflow_id:
        records = records.filter(workflow_id=workflow_id)
    return records


def schedule_triggers(*, instance: Instance, now: datetime) -> list[ScheduleTrigger]:
    """The instance's stored time triggers (the instance comes from a team-scoped selector), each
    with its next run computed from `now` (the stored one may be from an earlier read)."""
    triggers = list(ScheduleTrigger.objects.filter(instance=instance).order_by("workflow_name", "node"))
    for trigger in triggers:
        try:
            trigger.next_fire_at = next_fire(trigger.expressions, trigger.time_zone, now)
        except CronError:
            trigger.next_fire_at = None
    return sorted(triggers, key=lambda t: (t.next_fire_at is None, t.next_fire_at or now))


def wordpress_connection_get(*, instance: Instance) -> WordPressConnection | None:
    """The WordPress site an instance publishes to (the instance comes from a team-scoped selector)."""
    return WordPressConnection.objects.filter(instance=instance).select_related("wordpress_instance").first()
