from __future__ import annotations

from django.db.models import QuerySet

from tenantry.automations.models import ExecutionRecord
from tenantry.instances.models import Instance


def execution_list(*, instance: Instance, workflow_id: str | None = None) -> QuerySet[ExecutionRecord]:
    """Executions of an instance the caller already holds through a team-scoped selector."""
    records = ExecutionRecord.objects.filter(instance=instance).order_by("-started_at", "-created_at")
    if workflow_id:
        records = records.filter(workflow_id=workflow_id)
    return records
