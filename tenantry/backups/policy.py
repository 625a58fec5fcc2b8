"""Backup policies: how often each instance is backed up, where to, and which backups are kept.

A team's policy is its plan's `BackupPolicy` (DEFAULT_POLICY when the plan has none); off-site
targets are used only when the plan includes off-site backups. The installation's own operator
team is never limited. Retention is grandfather-father-son, computed by `gfs_keep` from the
backups' times alone (a pure function: tested with a frozen clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from django.conf import settings

from tenantry.accounts.models import Team
from tenantry.accounts.services.teams import OPERATOR_TEAM_SLUG


@dataclass(frozen=True)
class Policy:
    interval_hours: int = 24
    keep_last: int = 1
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12
    drill_interval_days: int = 7
    offsite: bool = False


DEFAULT_POLICY = Policy()


def policy_for(team: Team) -> Policy:
    """The team's backup policy: its live plan's, else the default (no off-site storage)."""
    from tenantry.backups.models import BackupPolicy
    from tenantry.billing.models import Subscription
    from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES

    if team.slug == OPERATOR_TEAM_SLUG:
        return replace(DEFAULT_POLICY, offsite=True)
    subscription = (Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES)
                    .select_related("plan").first())
    if subscription is None:
        return DEFAULT_POLICY
    plan = subscription.plan
    row = BackupPolicy.objects.filter(plan=plan).first()
    base = DEFAULT_POLICY if row is None else Policy(
        interval_hours=row.interval_hours, keep_last=row.keep_last, keep_daily=row.keep_daily,
        keep_weekly=row.keep_weekly, keep_monthly=row.keep_monthly, drill_interval_days=row.drill_interval_days)
    return replace(base, offsite=plan.offsite_backups)


def target_for(team: Team) -> str:
    """The target alias for the team's new backups: the installation's BACKUP_TARGET, unless it
    is off-site and the team's plan does not include that (then BACKUP_LOCAL_TARGET)."""
    from tenantry.backups.archive import target

    alias: str = settings.TENANTRY["BACKUP_TARGET"]
    if target(alias).offsite and not policy_for(team).offsite:
        return str(settings.TENANTRY.get("BACKUP_LOCAL_TARGET", "local"))
    return alias


def gfs_keep(times: list[tuple[str, datetime]], policy: Policy, now: datetime) -> set[str]:
    """Which backups (id, creation time) to keep at `now`: the `keep_last` newest, and the newest
    of each of the last `keep_daily` calendar days, `keep_weekly` ISO weeks and `keep_monthly`
    months (UTC), counted back from `now`. Everything else may be pruned."""
    # From the future (clock skew): never pruned on a guess, and not counted among the newest.
    keep = {backup_id for backup_id, created in times if created > now}
    ordered = sorted(((i, c) for i, c in times if c <= now), key=lambda item: item[1], reverse=True)
    keep |= {backup_id for backup_id, _ in ordered[:policy.keep_last]}
    today = now.date()
    this_week = today.isocalendar()[:2]
    days = {today.toordinal() - i for i in range(policy.keep_daily)}
    weeks = {_week_index(*this_week) - i for i in range(policy.keep_weekly)}
    months = {today.year * 12 + today.month - 1 - i for i in range(policy.keep_monthly)}
    seen: dict[str, set[int]] = {"day": set(), "week": set(), "month": set()}
    for backup_id, created in ordered:  # newest first: the first seen of a bucket is its newest
        day = created.date()
        buckets = {"day": (day.toordinal(), days), "week": (_week_index(*day.isocalendar()[:2]), weeks),
                   "month": (day.year * 12 + day.month - 1, months)}
        for tier, (bucket, wanted) in buckets.items():
            if bucket in wanted and bucket not in seen[tier]:
                seen[tier].add(bucket)
                keep.add(backup_id)
    return keep


def _week_index(year: int, week: int) -> int:
    # ISO years have 52 or 53 weeks: count weeks from a fixed Monday instead.
    return (date.fromisocalendar(year, week, 1).toordinal() - 1) // 7


def final_backup_on_delete(team: Team) -> bool:
    """Whether deleting one of the team's instances first saves its final backup: its plan's
    `final_backup_on_delete` (live subscription, else the latest one), else the installation's
    TENANTRY_BACKUP_FINAL_ON_DELETE."""
    from tenantry.billing.selectors import team_subscription

    subscription = team_subscription(team)
    chosen = subscription.plan.final_backup_on_delete if subscription is not None else None
    return bool(settings.TENANTRY["BACKUP_FINAL_ON_DELETE"]) if chosen is None else chosen
