from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.accounts.access import Access, Forbidden
from tenantry.accounts.models import Invitation, Membership, Role, User
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, NotFound, ValidationError
from tenantry.core.links import dashboard_url
from tenantry.core.tokens import new_secret, secret_hash

INVITATION_LIFETIME = timedelta(days=7)
# Session key: an invitation link opened while signed out, to come back to after login/signup.
PENDING_INVITATION_SESSION_KEY = "pending_invitation"


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str = field(repr=False)


def accept_url(token: str) -> str:
    return dashboard_url(f"/invitations/{token}/")  # never the inviter's request Host


def invitation_create(*, access: Access, email: str, role: str, send: bool = True) -> IssuedInvitation:
    """Invite someone into `access.team` with `role`; the inviter needs team.manage_members, and
    team.manage_owners to invite an owner."""
    access.require("team.manage_members")
    team, invited_by, actor = access.team, access.user, access.actor
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except Exception as exc:
        raise ValidationError("Enter a valid email address.", details={"field": "email"}) from exc
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.", details={"field": "role"})
    access.require_owner_rights(role, "Only an owner can invite an owner.")
    if Membership.objects.filter(team=team, user__email=email).exists():
        raise Conflict(f"{email} is already a member of this team.", code="already_member",
                       details={"field": "email"})
    token = new_secret()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(team=team, email=email, role=role, token_hash=secret_hash(token),
                                                   invited_by=invited_by,
                                                   expires_at=timezone.now() + INVITATION_LIFETIME)
            audit_log(actor=actor, action="invitation.create", target=invitation, data={"role": role})
    except IntegrityError as exc:
        raise Conflict(f"{email} already has an open invitation.", code="already_invited",
                       details={"field": "email"}) from exc
    if send:
        from tenantry.notifications.email import send_templated_email

        send_templated_email(to=email, template="invitation", context={
            "team_name": team.name, "inviter": invited_by.email if invited_by else "Tenantry",
            "role": invitation.get_role_display(), "accept_url": accept_url(token),
            "expires_at": invitation.expires_at})
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_for_token(token: str) -> Invitation:
    invitation = Invitation.objects.select_related("team").filter(token_hash=secret_hash(token)).first()
    if invitation is None or invitation.revoked_at or invitation.accepted_at:
        raise NotFound("This invitation does not exist or was already used.", code="invitation_not_found")
    if invitation.expires_at < timezone.now():
        raise Conflict("This invitation has expired; ask for a new one.", code="invitation_expired")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    invitation = invitation_for_token(token)
    if invitation.email != user.email.lower():
        raise ValidationError("This invitation was sent to another email address.", code="invitation_email")
    inviter = invitation.invited_by_id
    if invitation.role == Role.OWNER and (inviter is None or not Membership.objects.filter(
            team=invitation.team, user_id=inviter, role=Role.OWNER).exists()):
        # Only an owner's invitation makes an owner, and only while they still are one (this
        # also voids owner invitations an admin could send before owners alone could).
        raise Forbidden("Only an owner of the team can invite an owner; ask one for a new invitation.",
                        code="owner_required")
    membership, created = Membership.objects.get_or_create(team=invitation.team, user=user,
                                                           defaults={"role": invitation.role})
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at", "updated_at"])
    audit_log(actor=f"user:{user.email}", action="invitation.accept", target=invitation,
              data={"created": created})
    return membership


@transaction.atomic
def invitation_revoke(*, access: Access, invitation_id: str) -> Invitation:
    access.require("team.manage_members")
    invitation = (Invitation.objects.select_for_update()
                  .filter(team=access.team, pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True)
                  .first())
    if invitation is None:
        raise NotFound("No open invitation with this id in this team.", code="invitation_not_found")
    access.require_owner_rights(invitation.role, "Only an owner can cancel an owner's invitation.")
    actor = access.actor
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_log(actor=actor, action="invitation.revoke", target=invitation)
    return invitation
