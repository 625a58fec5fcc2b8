"""Reads of rollouts (the operators' own: they span teams) and of a team's maintenance window."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.core.errors import NotFound
from tenantry.updates.models import MaintenanceWindow, Rollout


def maintenance_window_get(*, team: Team) -> MaintenanceWindow:
    window = MaintenanceWindow.objects.filter(team=team).first()
    if window is None:
        raise NotFound("This team has no maintenance window: updates may happen at any time.",
                       code="maintenance_window_not_found")
    return window


# --- the operator's view (API with the operators' key, CLI, admin, console): every team -------------
def operator_rollout_list() -> QuerySet[Rollout]:
    return Rollout.objects.all().order_by("-created_at")


def operator_rollout_get(*, rollout_id: str) -> Rollout:
    try:
        key = uuid.UUID(str(rollout_id))
    except ValueError:
        key = None
    rollout = Rollout.objects.filter(pk=key).first() if key else None
    if rollout is None:
        raise NotFound(f"No rollout {rollout_id!r}.", code="rollout_not_found")
    return rollout
