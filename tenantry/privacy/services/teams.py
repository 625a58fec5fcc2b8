"""Deleting a team: its instances at once, then (after the backup retention, so a mistaken
deletion can still be undone from a backup by the operator) its backups and its people's
traces. Issued invoices, and the team row they point to (renamed), are kept as the law wants."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenantry.accounts.access import Access
from tenantry.accounts.models import Team
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict
from tenantry.core.logging import get_logger
from tenantry.privacy.models import TeamDeletion

log = get_logger(__name__)
# Per-plan backup policies (retention tiers), looked up by name: an installation may have none.
_POLICY_MODEL: str = "backups.BackupPolicy"


def backup_retention_days(team: Team) -> int:
    """How long the team's backups are kept: the horizon of its plan's backup policy (the
    longest grandfather-father-son tier) where the plan has one, else TEAM_DELETION_GRACE_DAYS."""
    from tenantry.billing.models import Subscription

    fallback = int(settings.TENANTRY["TEAM_DELETION_GRACE_DAYS"])
    try:
        policies = apps.get_model(_POLICY_MODEL)
    except LookupError:  # an installation without per-plan backup policies
        return fallback
    subscription = Subscription.objects.filter(team=team).order_by("-created_at").first()
    policy = policies.objects.filter(plan_id=subscription.plan_id).first() if subscription else None
    if policy is None:
        return fallback
    horizon = max(getattr(policy, "keep_daily", 0), 7 * getattr(policy, "keep_weekly", 0),
                  31 * getattr(policy, "keep_monthly", 0))
    return horizon or fallback


@transaction.atomic
def team_delete(*, team: Team, actor: str, now: datetime | None = None) -> TeamDeletion:
    """Start deleting a team: instances deleted, subscription ended, keys revoked, endpoints
    disabled, members out of it at once; the rest (backups and the team's backup key) purged by
    `team_deletions_purge` after the backup retention (`backup_retention_days`)."""
    from tenantry.billing.models import Subscription
    from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
    from tenantry.billing.services import subscription_cancel
    from tenantry.instances.models import Instance, Status
    from tenantry.instances.services import instance_delete

    now = now or timezone.now()
    team = Team.objects.select_for_update().get(pk=team.pk)
    if TeamDeletion.objects.filter(team=team).exists():
        raise Conflict("This team is already being deleted.", code="team_deleting")
    if team.slug == "operators":
        raise Conflict("The operators' team cannot be deleted.", code="operator_team")
    grace = timedelta(days=backup_retention_days(team))
    for instance in Instance.objects.filter(team=team).exclude(status__in=[Status.DELETED, Status.DELETING]):
        instance_delete(instance=instance, actor=actor)
    # Nothing is invoiced any more: the plan ends now (its instances are already going).
    for subscription in Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES):
        subscription_cancel(subscription=subscription, actor=actor, at_period_end=False)
    team.api_keys.filter(revoked_at__isnull=True).update(revoked_at=now)
    team.webhook_endpoints.update(enabled=False, disabled_reason="team deleted", disabled_at=now)
    team.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    team.memberships.all().delete()
    deletion = TeamDeletion.objects.create(team=team, requested_by=actor, purge_after=now + grace)
    audit_log(actor=actor, action="team.delete", target=team, data={"purge_after": deletion.purge_after.isoformat()})
    return deletion


@transaction.atomic
def team_delete_by_owner(*, access: Access) -> TeamDeletion:
    access.require("team.manage_owners")
    return team_delete(team=access.team, actor=access.actor)


def _purge(deletion: TeamDeletion, now: datetime) -> None:
    from tenantry.backups.archive import target as get_target
    from tenantry.backups.models import Backup, BackupKey

    team = deletion.team
    for backup in Backup.objects.filter(team=team):
        try:
            target = get_target(backup.target)
            for volume in backup.manifest.get("volumes", []):
                target.delete(volume["key"])
        except Exception as exc:  # the key goes below: what could not be removed is unreadable
            log.warning("team_purge.backup_object_left", backup=str(backup.pk), error=type(exc).__name__)
    # Without its key no copy of a backup can be read (crypto-shredding), wherever it lies.
    BackupKey.objects.filter(team=team).delete()
    Backup.objects.filter(team=team).update(manifest={}, instance_slug="deleted", created_by="")
    team.notifications.all().delete()
    team.api_keys.all().delete()
    team.webhook_endpoints.all().delete()
    team.invitations.all().delete()
    team.name = "Deleted team"
    team.slug = f"deleted-{team.pk.hex[:12]}"
    team.save(update_fields=["name", "slug", "updated_at"])
    deletion.purged_at = now
    deletion.save(update_fields=["purged_at", "updated_at"])
    audit_log(actor="privacy", action="team.purge", target=team)


def team_deletions_purge(*, now: datetime | None = None) -> int:
    """Teams whose grace period is over lose their backups and what remains of their data."""
    now = now or timezone.now()
    done = 0
    for deletion in TeamDeletion.objects.filter(purged_at__isnull=True, purge_after__lte=now).select_related("team"):
        with transaction.atomic():
            _purge(deletion, now)
        done += 1
    return done
