"""A plan's limits (+ active add-ons) set the resources of the team's instances (the limits
themselves are read in tenantry.billing.entitlements)."""

from __future__ import annotations

from decimal import Decimal

from tenantry.accounts.models import Team
from tenantry.billing.entitlements import Limits, live_instances, team_limits
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError

__all__ = ["Limits", "apply_team_limits", "live_instances", "team_limits"]


def apply_team_limits(*, team: Team, actor: str) -> list[str]:
    """Resize every live instance of the team to its limits; returns the slugs of those that change."""
    from tenantry.instances.lifecycle import instance_resize

    limits = team_limits(team)
    if limits is None:
        return []
    changed = []
    for instance in live_instances(team):
        if instance.memory_mb == limits.memory_mb and Decimal(instance.cpus) == limits.cpus:
            continue
        try:
            instance_resize(instance=instance, memory_mb=limits.memory_mb, cpus=limits.cpus, actor=actor)
        except ApplicationError as exc:  # busy: the next periodic pass applies the limits
            audit_log(actor=actor, action="instance.resize_deferred", target=instance, data={"error": exc.code})
            continue
        changed.append(instance.slug)
    # Quotas moved too (add-on bought or ended, larger plan): lift or apply the usage policies now.
    from tenantry.metering.tasks import quota_check_team_task  # metering reads billing: import late

    quota_check_team_task(str(team.pk))
    return changed
