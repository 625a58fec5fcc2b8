"""Reading the audit trail: a team's (owners, API keys) or everyone's (staff)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet

from tenantry.accounts.models import Team
from tenantry.core.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""  # an exact action, or a prefix ending with "." ("instance.")
    actor: str = ""  # a substring of the actor
    target_type: str = ""
    target_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filtered(rows: QuerySet[AuditEvent], flt: AuditFilter) -> QuerySet[AuditEvent]:
    if flt.action:
        rows = rows.filter(action__startswith=flt.action) if flt.action.endswith(".") else rows.filter(
            action=flt.action)
    if flt.actor:
        rows = rows.filter(actor__icontains=flt.actor)
    if flt.target_type:
        rows = rows.filter(target_type=flt.target_type)
    if flt.target_id:
        rows = rows.filter(target_id=flt.target_id)
    # In UTC: Python accepts offsets up to ±23:59, PostgreSQL only to ±15:59 (a 500 otherwise).
    if flt.since:
        rows = rows.filter(created_at__gte=_utc(flt.since))
    if flt.until:
        rows = rows.filter(created_at__lt=_utc(flt.until))
    return rows


def team_audit_trail(*, team: Team, flt: AuditFilter | None = None) -> QuerySet[AuditEvent]:
    return _filtered(AuditEvent.objects.filter(team_id=team.pk), flt or AuditFilter())


def team_audit_event(*, team: Team, event_id: int) -> AuditEvent | None:
    return AuditEvent.objects.filter(team_id=team.pk, pk=event_id).first()


def all_audit_trail(*, flt: AuditFilter | None = None, team_slug: str = "") -> QuerySet[AuditEvent]:
    """Every row, for staff (the operator console)."""
    rows = AuditEvent.objects.all()
    if team_slug:
        team = Team.objects.filter(slug=team_slug).first()
        rows = rows.filter(Q(team_id=team.pk)) if team is not None else rows.none()
    return _filtered(rows, flt or AuditFilter())
