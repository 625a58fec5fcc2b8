"""Reads of backups, always scoped to a team: another team's backup is not found."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.backups.models import Backup
from tenantry.core.errors import NotFound
from tenantry.instances.models import Instance


def backup_list(*, team: Team, instance: Instance | None = None) -> QuerySet[Backup]:
    qs = Backup.objects.filter(team=team).select_related("instance")
    if instance is not None:
        qs = qs.filter(instance=instance)
    return qs.order_by("-created_at")


def backup_get(*, team: Team, backup_id: str) -> Backup:
    try:
        key = uuid.UUID(str(backup_id))
    except ValueError:
        key = None
    backup = Backup.objects.filter(team=team, pk=key).select_related("team", "instance").first() if key else None
    if backup is None:
        raise NotFound(f"No backup {backup_id!r}.", code="backup_not_found")
    return backup
