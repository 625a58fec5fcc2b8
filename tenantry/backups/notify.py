"""Failures are loud: the team's owners and the installation's operators get an email."""

from __future__ import annotations

from django.conf import settings

from tenantry.accounts.models import Membership, Role, User
from tenantry.instances.models import Operation
from tenantry.notifications.email import send_templated_email


def failure_recipients(operation: Operation) -> list[User]:
    owners = {m.user for m in Membership.objects.filter(team=operation.instance.team, role=Role.OWNER)
              .select_related("user")}
    operators = set(User.objects.filter(is_staff=True, is_active=True))
    return sorted(owners | operators, key=lambda u: u.email)


def notify_backup_failure(operation_id: str, reason: str, rolled_back: bool | None) -> None:
    operation = Operation.objects.select_related("instance__team").get(pk=operation_id)
    instance = operation.instance
    manage_url = (settings.TENANTRY["DASHBOARD_URL"].rstrip("/")
                  + f"/t/{instance.team.slug}/instances/{instance.slug}/")
    context = {"kind": operation.kind, "slug": instance.slug, "reason": reason, "rolled_back": rolled_back,
               "manage_url": manage_url}
    for user in failure_recipients(operation):
        send_templated_email(to=user.email, template="backup_failed", context=context,
                             language=user.language or None)


def notify_drill_failure(drill_id: str) -> None:
    """A restore drill failed: the installation's operators (they act on it) and the team's owners."""
    from tenantry.backups.models import RestoreDrill

    drill = RestoreDrill.objects.select_related("instance__team").get(pk=drill_id)
    instance = drill.instance
    owners = {m.user for m in Membership.objects.filter(team=instance.team, role=Role.OWNER).select_related("user")}
    operators = set(User.objects.filter(is_staff=True, is_active=True))
    manage_url = (settings.TENANTRY["DASHBOARD_URL"].rstrip("/")
                  + f"/t/{instance.team.slug}/instances/{instance.slug}/")
    context = {"slug": instance.slug, "reason": drill.error_message, "manage_url": manage_url,
               "backup_time": drill.backup.created_at if drill.backup else None}
    for user in sorted(owners | operators, key=lambda u: u.email):
        send_templated_email(to=user.email, template="drill_failed", context=context, language=user.language or None)
