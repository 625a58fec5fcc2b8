"""Policies that act on the instance once a quota is used up: `throttle` (a rate limit on its
route) and `suspend` (after a grace period). Each applies at most once per instance, quota and
period (a `QuotaEnforcement` row), and is lifted as soon as the quota is no longer used up: a
new period, an add-on, a larger plan. The customer is told each time (email, banner, audit row).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.entitlements import ENTITLED_STATUSES
from tenantry.billing.models import Subscription
from tenantry.core.audit import audit_log
from tenantry.core.logging import get_logger
from tenantry.instances.models import DesiredState, Instance, Status
from tenantry.metering.models import EnforcementAction, QuotaEnforcement
from tenantry.metering.quotas import Policy, QuotaStatus, policy_of
from tenantry.routing.backends.base import RateLimit

log = get_logger(__name__)
ACTOR = "metering:policy"
_ACTIONS = {Policy.THROTTLE: EnforcementAction.THROTTLE, Policy.SUSPEND: EnforcementAction.SUSPEND}


def enforce_instance(*, team: Team, subscription: Subscription, instance: Instance,
                     statuses: list[QuotaStatus]) -> list[QuotaEnforcement]:
    """Apply what is due and lift what no longer is, for one instance's current quotas; returns
    the enforcements that changed."""
    now = timezone.now()
    changed: list[QuotaEnforcement] = []
    by_code = {status.code: status for status in statuses}
    for status in statuses:
        action = _ACTIONS.get(status.policy)
        if action is None or status.percent < 100:
            continue
        params = policy_of(subscription.plan, status.code)
        due = now + timedelta(days=params.get("grace_days", 0)) if action == EnforcementAction.SUSPEND else now
        try:
            with transaction.atomic():
                enforcement = QuotaEnforcement.objects.create(
                    team=team, instance=instance, quota=status.code, action=action, period_start=status.period_start,
                    period_end=status.period_end, due_at=due, params=params)
        except IntegrityError:  # already decided this period
            enforcement = QuotaEnforcement.objects.get(instance=instance, quota=status.code,
                                                       period_start=status.period_start)
        else:
            if action == EnforcementAction.SUSPEND and due > now:
                audit_log(actor=ACTOR, action="usage.suspension_scheduled", target=instance,
                          data={"quota": status.code, "due_at": due.isoformat()})
                _tell(enforcement, "scheduled")
                changed.append(enforcement)
        if enforcement.applied_at is None and enforcement.lifted_at is None and enforcement.due_at <= now:
            _apply(enforcement, subscription)
            changed.append(enforcement)
    # Lift (or cancel before it applied) whatever the current quotas no longer justify.
    for enforcement in QuotaEnforcement.objects.filter(instance=instance, lifted_at__isnull=True):
        current = by_code.get(enforcement.quota)
        still = (current is not None and current.period_start == enforcement.period_start and current.percent >= 100
                 and _ACTIONS.get(current.policy) == enforcement.action)
        if not still:
            _lift(enforcement, subscription, current)
            changed.append(enforcement)
    return changed


def _apply(enforcement: QuotaEnforcement, subscription: Subscription) -> None:
    instance = enforcement.instance
    enforcement.applied_at = timezone.now()
    enforcement.save(update_fields=["applied_at", "updated_at"])
    audit_log(actor=ACTOR, action=f"usage.{enforcement.action}", target=instance,
              data={"quota": enforcement.quota, "params": enforcement.params})
    if enforcement.action == EnforcementAction.THROTTLE:
        transaction.on_commit(partial(refresh_route, str(instance.pk)))
    else:
        from tenantry.instances.lifecycle import instance_suspend

        instance_suspend(instance=instance, actor=ACTOR, reason=f"{enforcement.quota} quota used up")
    _tell(enforcement, "applied")


def _lift(enforcement: QuotaEnforcement, subscription: Subscription, status: QuotaStatus | None) -> None:
    instance = enforcement.instance
    was_applied = enforcement.applied_at is not None
    enforcement.lifted_at = timezone.now()
    enforcement.save(update_fields=["lifted_at", "updated_at"])
    why = "new period" if status is None or status.period_start != enforcement.period_start else "quota available"
    audit_log(actor=ACTOR, action=f"usage.{enforcement.action}_lifted", target=instance,
              data={"quota": enforcement.quota, "reason": why, "applied": was_applied})
    if not was_applied:
        return  # a suspension cancelled during its grace period: nothing happened to undo
    if enforcement.action == EnforcementAction.THROTTLE:
        transaction.on_commit(partial(refresh_route, str(instance.pk)))
    elif subscription.status in ENTITLED_STATUSES and _suspended_by_us(instance):
        from tenantry.instances.lifecycle import instance_resume

        instance_resume(instance=instance, actor=ACTOR)
    _tell(enforcement, "lifted")


def _suspended_by_us(instance: Instance) -> bool:
    """Resume only a suspension this policy made (never one for an unpaid invoice or by an operator)."""
    from tenantry.instances.models import Operation, OperationKind

    instance.refresh_from_db(fields=["desired_state", "status"])
    if instance.desired_state != DesiredState.SUSPENDED and instance.status != Status.SUSPENDED:
        return False
    last = Operation.objects.filter(instance=instance, kind=OperationKind.SUSPEND).order_by("-created_at").first()
    return last is not None and last.actor == ACTOR


def _tell(enforcement: QuotaEnforcement, what: str) -> None:
    from tenantry.metering.tasks import quota_enforcement_email_task

    transaction.on_commit(partial(quota_enforcement_email_task, str(enforcement.pk), what))


def throttled_routes() -> dict[str, RateLimit]:
    """The rate limit of every throttled instance, by instance id (for building routes)."""
    return {str(e.instance_id): _rate_limit(e) for e in QuotaEnforcement.objects.filter(
        action=EnforcementAction.THROTTLE, applied_at__isnull=False, lifted_at__isnull=True)}


def instance_rate_limit(instance_id: str) -> RateLimit | None:
    enforcement = QuotaEnforcement.objects.filter(
        instance_id=instance_id, action=EnforcementAction.THROTTLE, applied_at__isnull=False,
        lifted_at__isnull=True).first()
    return _rate_limit(enforcement) if enforcement else None


def _rate_limit(enforcement: QuotaEnforcement) -> RateLimit:
    params = enforcement.params
    return RateLimit(average=int(params.get("requests", 5)), period_seconds=int(params.get("period_seconds", 1)),
                     burst=int(params.get("burst", 10)))


def refresh_route(instance_id: str) -> None:
    """Publish the instance's route again with (or without) its rate limit; a route that points
    at the edge (stopped, hibernated) gets it when the instance runs again."""
    from tenantry.routing.routes import republish_instance_route

    try:
        republish_instance_route(instance_id)
    except Exception:  # the reconciler syncs routes (rate limit included) on its next pass
        log.exception("metering.throttle_route_failed", instance=instance_id)


def enforce_app_limits(*, subscription: Subscription, instance: Instance, statuses: list[QuotaStatus]) -> None:
    """Limits counted inside an automation app (active workflows; executions when the plan
    blocks), through its backend. An app that cannot be reached now is enforced on the next pass."""
    from tenantry.automations.limits import enforce_workflow_limits
    from tenantry.automations.services import automation_for
    from tenantry.catalog.registry import get_app, get_catalog
    from tenantry.core.errors import ApplicationError
    from tenantry.runtime.backends.base import BackendError

    if instance.status != Status.RUNNING or instance.app not in get_catalog() \
            or get_app(instance.app).automation is None:
        return
    limit = (subscription.plan.app_limits or {}).get(instance.app, {}).get("active_workflows")
    executions = next((s for s in statuses if s.code == "executions"), None)
    blocked = executions is not None and executions.policy == Policy.BLOCK and executions.percent >= 100
    try:
        enforce_workflow_limits(instance=instance, backend=automation_for(instance),
                                active_limit=int(limit) if limit is not None else None,
                                paused_until=executions.period_end if blocked and executions else None,
                                period_end=executions.period_end if executions else None)
    except (ApplicationError, BackendError) as exc:
        log.info("metering.app_limits_skipped", instance=instance.slug, reason=str(exc))
