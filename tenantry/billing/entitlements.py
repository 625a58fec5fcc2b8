"""What a team may run: the one place that reads plan + add-ons + usage.

Every service that creates or grows something asks here first (instance creation, resize, plan
change), so the API, the dashboard, the CLI and billing's own provisioning agree. The
installation's own `operators` team runs what the operator decides and is never limited.

Error codes and HTTP statuses (stable, documented in the README):
- `plan_required` (402): no active or trialing subscription (none, ended, past due or suspended);
- `app_not_in_plan` (403): the plan does not include this app;
- `plan_limit_reached` (409): the plan's instance count is used up (deleting one frees a slot);
- `size_over_plan` (403): more memory or CPUs per instance than plan + add-ons allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.accounts.services.teams import OPERATOR_TEAM_SLUG
from tenantry.billing.models import AddOn, AddOnPurchase, AddOnStatus, Plan, Subscription, SubscriptionStatus
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.core.errors import ApplicationError
from tenantry.instances.models import Instance, Status

# A past-due or suspended team keeps what it has, but gets nothing new until it pays.
ENTITLED_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


class PlanRequired(ApplicationError):
    code = "plan_required"
    status = 402


class AppNotInPlan(ApplicationError):
    code = "app_not_in_plan"
    status = 403


class PlanLimitReached(ApplicationError):
    code = "plan_limit_reached"
    status = 409


class SizeOverPlan(ApplicationError):
    code = "size_over_plan"
    status = 403


# The answers that mean "the plan says no" (a view may point the customer to the plans).
PLAN_CODES = frozenset(error.code for error in (PlanRequired, AppNotInPlan, PlanLimitReached, SizeOverPlan))


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


def _live(team: Team) -> QuerySet[Instance]:
    return Instance.objects.filter(team=team).exclude(
        status__in=[Status.DELETED, Status.DELETING, Status.ARCHIVED, Status.ARCHIVING])


def live_instances(team: Team) -> list[Instance]:
    return list(_live(team))


def live_instance_count(team: Team) -> int:
    # Counted by the database: every create checks it twice, and loading each row to count them
    # cost milliseconds per create at a thousand instances.
    return _live(team).count()


@dataclass(frozen=True)
class Entitlement:
    """What the team may run now. `plan` is None for the operators' team: no limits apply."""

    plan: Plan | None
    limits: Limits | None
    instances_used: int

    @property
    def unlimited(self) -> bool:
        return self.plan is None


def is_operator_team(team: Team) -> bool:
    return team.slug == OPERATOR_TEAM_SLUG


def team_entitlement(team: Team) -> Entitlement:
    """The team's plan, its limits (plan + active add-ons) and its live instance count; raises
    `plan_required` unless the subscription is active or trialing."""
    used = live_instance_count(team)
    if is_operator_team(team):
        return Entitlement(plan=None, limits=None, instances_used=used)
    subscription = (Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES)
                    .select_related("plan").first())
    if subscription is None:
        raise PlanRequired("Choose a plan to create instances.", details={"subscription_status": None})
    if subscription.status not in ENTITLED_STATUSES:
        raise PlanRequired(
            "The team's subscription is not in good standing: pay the open invoice to create instances.",
            details={"subscription_status": subscription.status})
    limits = team_limits(team, subscription.plan)
    return Entitlement(plan=subscription.plan, limits=limits, instances_used=used)


def require_new_instance(*, team: Team, app: str) -> Entitlement:
    """May the team create one more instance of `app`? Call it again with the team row locked
    right before creating, so two concurrent creates cannot both take the last slot."""
    entitlement = team_entitlement(team)
    plan = entitlement.plan
    if plan is None:
        return entitlement
    if not plan.allows_app(app):
        raise AppNotInPlan(f"The {plan.name} plan does not include {app}.",
                           details={"field": "app", "app": app, "allowed": plan.allowed_apps})
    if entitlement.instances_used >= plan.max_instances:
        raise PlanLimitReached(
            f"The {plan.name} plan allows {plan.max_instances} instance(s) and the team has "
            f"{entitlement.instances_used}: delete one or change plan.",
            details={"max_instances": plan.max_instances, "instances": entitlement.instances_used})
    from tenantry.metering.services.quotas import require_within_quota  # metering reads this module

    require_within_quota(team=team, quotas=("traffic", "storage"), action="creating instances")
    return entitlement


def require_custom_domain(*, team: Team, used: int) -> None:
    """May the team add one more custom domain (`used`: the ones it has, pending included)?"""
    if is_operator_team(team):
        return
    plan = team_entitlement(team).plan
    if plan is not None and used >= plan.max_custom_domains:
        raise PlanLimitReached(
            f"The {plan.name} plan allows {plan.max_custom_domains} custom domain(s) and the team has {used}: "
            "remove one or change plan.", details={"max_custom_domains": plan.max_custom_domains, "domains": used})


def require_size(entitlement: Entitlement, *, memory_mb: int, cpus: Decimal | float) -> None:
    """Memory and CPUs per instance within plan + add-ons."""
    if entitlement.limits is not None:
        _within(entitlement.limits, memory_mb=memory_mb, cpus=cpus)


def _within(limits: Limits, *, memory_mb: int, cpus: Decimal | float) -> None:
    if memory_mb > limits.memory_mb:
        raise SizeOverPlan(f"The plan allows up to {limits.memory_mb} MB per instance (add-ons included).",
                           details={"field": "memory_mb", "limit": limits.memory_mb, "asked": memory_mb})
    if Decimal(str(cpus)) > limits.cpus:
        raise SizeOverPlan(f"The plan allows up to {limits.cpus} CPUs per instance (add-ons included).",
                           details={"field": "cpus", "limit": str(limits.cpus), "asked": str(cpus)})


def require_growth(*, team: Team, memory_mb: int, cpus: Decimal | float) -> None:
    """Resizing up: within the limits of the team's live subscription (a past-due team keeps
    its add-ons' size until they end; shrinking never asks)."""
    if is_operator_team(team):
        return
    limits = team_limits(team)
    if limits is None:
        raise PlanRequired("Choose a plan to resize instances.", details={"subscription_status": None})
    _within(limits, memory_mb=memory_mb, cpus=cpus)


def require_plan_fits(*, team: Team, plan: Plan) -> None:
    """Changing to `plan` (now or at the period end) must not leave the team with instances the
    plan does not allow: an app it excludes, or more instances than it counts."""
    instances = live_instances(team)
    excluded = sorted({i.app for i in instances if not plan.allows_app(i.app)})
    if excluded:
        raise AppNotInPlan(f"The {plan.name} plan does not include {', '.join(excluded)}.",
                           details={"field": "plan", "apps": excluded, "allowed": plan.allowed_apps})
    if len(instances) > plan.max_instances:
        raise PlanLimitReached(
            f"The {plan.name} plan allows {plan.max_instances} instance(s) and the team has {len(instances)}: "
            "delete some first.", details={"max_instances": plan.max_instances, "instances": len(instances)})
