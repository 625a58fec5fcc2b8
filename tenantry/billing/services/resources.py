"""A plan's limits (+ active add-ons) set the resources of the team's instances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tenantry.accounts.models import Team
from tenantry.billing.models import AddOn, AddOnPurchase, AddOnStatus, Plan, Subscription
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError
from tenantry.instances.models import Instance, Status


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpus: Decimal
    storage_gb: int
    traffic_gb_month: int
    max_instances: int


def team_limits(team: Team, plan: Plan | None = None) -> Limits | None:
    """Per-instance limits from the live subscription's plan plus the team's active add-ons."""
    if plan is None:
        subscription = (Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES)
                        .select_related("plan").first())
        if subscription is None:
            return None
        plan = subscription.plan
    extra: dict[str, Decimal] = {resource: Decimal(0) for resource in AddOn.Resource.values}
    for purchase in AddOnPurchase.objects.filter(team=team, status=AddOnStatus.ACTIVE).select_related("addon"):
        extra[purchase.addon.resource] += purchase.addon.quantity * purchase.quantity
    return Limits(memory_mb=plan.memory_mb + int(extra[AddOn.Resource.MEMORY]),
                  cpus=Decimal(plan.cpus) + extra[AddOn.Resource.CPU],
                  storage_gb=plan.storage_gb + int(extra[AddOn.Resource.STORAGE]),
                  traffic_gb_month=plan.traffic_gb_month + int(extra[AddOn.Resource.TRAFFIC]),
                  max_instances=plan.max_instances)


def live_instances(team: Team) -> list[Instance]:
    return list(Instance.objects.filter(team=team).exclude(
        status__in=[Status.DELETED, Status.DELETING, Status.ARCHIVED, Status.ARCHIVING]))


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
    return changed
