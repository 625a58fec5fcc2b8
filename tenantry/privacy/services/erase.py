"""Erasing a person (GDPR art. 17): their account goes, their name and address go from every
table that held them; what the law keeps (issued invoices) keeps its legal fields.

The user row is deleted, so every row that belongs to them (memberships, notifications,
preferences, email addresses, MFA devices, sessions) goes with it by cascade; rows that only
mention them (audit, invitations, events, billing contacts) have their address replaced by a
pseudonym. Teams they were alone in are deleted like any team (after the backup retention).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction
from django.db.models import Count, Q

from tenantry.accounts.models import Membership, Role, Team, User
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict
from tenantry.privacy.services.audit import audit_forget_user

# Text kept because the law requires it: an issued invoice is never rewritten (its buyer's
# name, address and VAT number stay; the contact email is not a legal mention and goes).
_LEGAL_KEEP = {("billing.invoice", "buyer")}
_TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


@dataclass(frozen=True)
class ErasureResult:
    pseudonym: str
    rows_rewritten: int
    teams_deleted: list[str]


def pseudonym_for(user: User) -> str:
    digest = hashlib.sha256(f"{user.pk}:{user.email}".encode()).hexdigest()[:12]
    return f"erased-{digest}@erased.invalid"


def _blocking_teams(user: User) -> list[Team]:
    """Teams the user is the last owner of while others remain: someone must take them over."""
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values("team_id")
    teams = (Team.objects.filter(pk__in=owned).annotate(
        owners=Count("memberships", filter=Q(memberships__role=Role.OWNER)), members=Count("memberships")))
    return [t for t in teams if t.owners == 1 and t.members > 1]


def _replace(value: object, email: str, replacement: str) -> object:
    if isinstance(value, str):
        return re.sub(re.escape(email), replacement, value, flags=re.I)
    if isinstance(value, list):
        return [_replace(v, email, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, email, replacement) for k, v in value.items()}
    return value


def _rewrite_mentions(email: str, replacement: str, skip: set[str]) -> int:
    """Every text or JSON column of every table mentioning the address gets the pseudonym."""
    count = 0
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in skip or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, _TEXT_FIELDS) or field.primary_key:
                continue
            if (label, field.name) in _LEGAL_KEEP:
                for obj in model._default_manager.filter(**{f"{field.name}__icontains": email}):
                    kept = {k: ("" if k == "email" else v) for k, v in getattr(obj, field.attname).items()}
                    model._default_manager.filter(pk=obj.pk).update(**{field.attname: kept})
                    count += 1
                continue
            rows = model._default_manager.filter(**{f"{field.name}__icontains": email})
            for pk, value in rows.values_list("pk", field.attname):
                new = "" if isinstance(field, models.EmailField) and isinstance(value, str) and value.lower() == email \
                    and field.blank else _replace(value, email, replacement)
                if isinstance(value, str) and isinstance(field, models.CharField) and field.max_length:
                    new = str(new)[: field.max_length]
                model._default_manager.filter(pk=pk).update(**{field.attname: new})
                count += 1
    return count


@transaction.atomic
def user_erase(*, user: User, actor: str) -> ErasureResult:
    """Erase a person: refuses while they are the last owner of a team with other members."""
    from tenantry.privacy.services.teams import team_delete

    user = User.objects.select_for_update().get(pk=user.pk)
    blocking = _blocking_teams(user)
    if blocking:
        raise Conflict("You are the last owner of a team with other members: make one of them owner first.",
                       code="last_owner", details={"teams": [t.slug for t in blocking]})
    email = user.email.lower()
    pseudonym = pseudonym_for(user)
    alone = [m.team for m in Membership.objects.filter(user=user).select_related("team")
             if m.team.memberships.count() == 1]
    deleted = []
    for team in alone:
        team_delete(team=team, actor=actor)
        deleted.append(team.slug)
    audit_log(actor=actor if not actor.endswith(email) else f"user:{pseudonym}", action="user.erase",
              target=user, data={"user": pseudonym, "teams_deleted": len(deleted)})
    # After the erase's own rows: they too lose the person's IP address and user agent (the row
    # says an account was erased, not from where; a staff member erasing someone keeps theirs).
    audit_forget_user(user_id=user.pk, email=email, replacement=f"user:{pseudonym}")
    user.delete()  # cascades to sessions, email addresses, MFA devices, memberships, notifications
    rows = _rewrite_mentions(email, pseudonym, skip={"accounts.user"})
    return ErasureResult(pseudonym=pseudonym, rows_rewritten=rows, teams_deleted=deleted)
