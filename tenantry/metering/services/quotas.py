"""Quota checks: thresholds reached (80/95/100 %) are alerted once per period (email to the team's
owners, an audit row, the dashboard banner); `block` policies refuse what would use more; and
`bill_overage` policies become invoice lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction

from tenantry.accounts.models import Team
from tenantry.billing.entitlements import is_operator_team, live_instances, team_limits
from tenantry.billing.models import Subscription
from tenantry.billing.models.invoices import LineKind
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.billing.services.invoicing import LineDraft
from tenantry.core.audit import audit_log
from tenantry.events.services import emit
from tenantry.instances.models import Instance
from tenantry.metering.errors import QuotaExceeded
from tenantry.metering.models import QuotaAlert
from tenantry.metering.quotas import Policy, QuotaStatus, instance_quotas, policy_of


@dataclass(frozen=True)
class InstanceQuotas:
    instance: Instance
    quotas: list[QuotaStatus]


def _subscription(team: Team) -> Subscription | None:
    return (Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES)
            .select_related("plan").first())


def team_quotas(team: Team, *, instances: list[Instance] | None = None,
                start: datetime | None = None, end: datetime | None = None) -> list[InstanceQuotas]:
    """Each live instance's quotas over the subscription's current period (or [start, end))."""
    subscription = _subscription(team)
    if subscription is None or is_operator_team(team):
        return []
    limits = team_limits(team, subscription.plan)
    assert limits is not None
    start = start or subscription.current_period_start
    end = end or subscription.current_period_end
    return [InstanceQuotas(instance=i, quotas=instance_quotas(i, plan=subscription.plan, limits=limits,
                                                              start=start, end=end))
            for i in (instances if instances is not None else live_instances(team))]


def quota_check_team(*, team: Team) -> list[QuotaAlert]:
    """Write an alert for every threshold newly reached this period; the email (the highest new
    threshold per instance and quota), the audit row and the banner follow from those rows."""
    created: list[QuotaAlert] = []
    entries = team_quotas(team)
    for entry in entries:
        for status in entry.quotas:
            new = []
            for threshold in status.reached:
                try:
                    with transaction.atomic():
                        alert = QuotaAlert.objects.create(
                            team=team, instance=entry.instance, quota=status.code, threshold=threshold,
                            period_start=status.period_start, period_end=status.period_end, used=status.used,
                            included=status.included, policy=status.policy)
                        audit_log(actor="metering", action="usage.threshold", target=entry.instance,
                                  data={"quota": status.code, "threshold": threshold, "used": str(status.used),
                                        "included": str(status.included), "policy": status.policy})
                        emit("usage.threshold", team=team,
                             data={"meter": status.code, "used": float(status.used),
                                   "limit": float(status.included), "percent": threshold,
                                   "instance_id": str(entry.instance.pk), "slug": entry.instance.slug,
                                   "policy": status.policy})
                except IntegrityError:  # already alerted this period
                    continue
                new.append(alert)
            if new:
                top = max(new, key=lambda a: a.threshold)
                transaction.on_commit(partial(_email, str(top.pk)))
                created.extend(new)
    _enforce(team, entries)
    return created


def _enforce(team: Team, entries: list[InstanceQuotas]) -> None:
    """Throttle / suspend what the thresholds call for, lift what they no longer do."""
    from tenantry.metering.services.enforcement import enforce_app_limits, enforce_instance

    subscription = _subscription(team)
    if subscription is None:
        return
    for entry in entries:
        with transaction.atomic():
            enforce_instance(team=team, subscription=subscription, instance=entry.instance, statuses=entry.quotas)
        enforce_app_limits(subscription=subscription, instance=entry.instance, statuses=entry.quotas)


def _email(alert_id: str) -> None:
    from tenantry.metering.tasks import quota_alert_email_task

    quota_alert_email_task(alert_id)


def quota_check_all() -> int:
    """Every team with a live subscription (the nightly limit check and after each collection)."""
    teams = Team.objects.filter(subscriptions__status__in=LIVE_SUBSCRIPTION_STATUSES).distinct()
    return sum(len(quota_check_team(team=team)) for team in teams)


def require_within_quota(*, team: Team, quotas: tuple[str, ...], instance: Instance | None = None,
                         action: str) -> None:
    """Refuse `action` when a quota whose policy is `block` is used up (by `instance`, or by any
    of the team's live instances)."""
    subscription = _subscription(team)
    if subscription is None or not any(policy_of(subscription.plan, code)["policy"] == Policy.BLOCK
                                       for code in quotas):
        return  # nothing blocks: do not measure anything
    instances = [instance] if instance is not None else None
    for entry in team_quotas(team, instances=instances):
        for status in entry.quotas:
            if status.code in quotas and status.policy == Policy.BLOCK and status.percent >= 100:
                raise QuotaExceeded(
                    f"{entry.instance.slug} has used its {status.label.lower()} for this period "
                    f"({status.used.normalize():f} of {status.included.normalize():f} {status.unit}); the plan "
                    f"blocks {action} until {status.period_end:%Y-%m-%d}. Upgrade the plan or buy an add-on.",
                    details={"quota": status.code, "instance": entry.instance.slug, "used": str(status.used),
                             "included": str(status.included), "period_end": status.period_end.isoformat()})


def overage_lines(*, subscription: Subscription, start: datetime, end: datetime,
                  suffix: str = "") -> list[LineDraft]:
    """Invoice lines for every `bill_overage` quota used past the included amount in [start, end):
    one line per instance and quota, units started above the included amount x the unit price."""
    team = subscription.team
    plan = subscription.plan
    if not any(entry.get("policy") == Policy.BILL_OVERAGE for entry in (plan.usage_policies or {}).values()):
        return []
    limits = team_limits(team, plan)
    assert limits is not None
    # Instances deleted during the period still used what they used.
    instances = list(Instance.objects.filter(team=team, usage_events__timestamp__gte=start,
                                             usage_events__timestamp__lt=end).distinct().order_by("slug"))
    lines = []
    for instance in instances:
        for status in instance_quotas(instance, plan=plan, limits=limits, start=start, end=end):
            if status.policy != Policy.BILL_OVERAGE or not status.over_units or not status.unit_price_minor:
                continue
            lines.append(LineDraft(
                kind=LineKind.USAGE, quantity=status.over_units, unit_amount_minor=status.unit_price_minor,
                amount_minor=status.over_units * status.unit_price_minor, period_start=start, period_end=end,
                description=(f"{status.label} over the plan, {instance.slug}: {status.over_units} {status.unit} "
                             f"above {status.included.normalize():f} {status.unit}, "
                             f"{start:%Y-%m-%d} to {end:%Y-%m-%d}{suffix}")))
    return lines


