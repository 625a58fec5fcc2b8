"""Reads of backups, always scoped to a team: another team's backup is not found."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.backups.models import Backup, DrillStatus, RestoreDrill
from tenantry.core.errors import NotFound
from tenantry.instances.models import Instance


def backup_list(*, team: Team, instance: Instance | None = None) -> QuerySet[Backup]:
    qs = Backup.objects.filter(team=team).select_related("instance")
    if instance is not None:
        qs = qs.filter(instance=instance)
    return qs.order_by("-created_at")


def drill_summary(*, team: Team, instance: Instance) -> dict[str, RestoreDrill | None]:
    """The instance's last verified restore (passed drill) and its latest drill of any result."""
    drills = RestoreDrill.objects.filter(team=team, instance=instance).select_related("backup")
    return {"last_verified": drills.filter(status=DrillStatus.PASSED).order_by("-completed_at").first(),
            "latest": drills.order_by("-created_at").first()}


def drill_list(*, team: Team, instance: Instance) -> QuerySet[RestoreDrill]:
    return RestoreDrill.objects.filter(team=team, instance=instance).order_by("-created_at")


def backup_get(*, team: Team, backup_id: str) -> Backup:
    return _get(Backup.objects.filter(team=team), backup_id)


def _get(qs: QuerySet[Backup], backup_id: str) -> Backup:
    try:
        key = uuid.UUID(str(backup_id))
    except ValueError:
        key = None
    backup = qs.filter(pk=key).select_related("team", "instance").first() if key else None
    if backup is None:
        raise NotFound(f"No backup {backup_id!r}.", code="backup_not_found")
    return backup


# --- unscoped: the CLI and the admin only (the operator sees every team) ------------------------
def operator_backup_list(*, instance: Instance) -> QuerySet[Backup]:
    return Backup.objects.filter(instance=instance).select_related("team", "instance").order_by("-created_at")


def operator_backup_get(*, backup_id: str) -> Backup:
    return _get(Backup.objects.all(), backup_id)
