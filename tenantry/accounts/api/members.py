"""Members and invitations of a team."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from tenantry.accounts.api.common import AUTH, ERRORS
from tenantry.accounts.api.schemas import InvitationIn, InvitationOut, MemberOut, RoleIn
from tenantry.accounts.models import Invitation, Membership
from tenantry.accounts.selectors import open_invitations, team_members
from tenantry.accounts.services.invitations import invitation_create, invitation_revoke
from tenantry.accounts.services.teams import membership_remove, membership_set_role
from tenantry.api.auth import team_access_for
from tenantry.api.pagination import BoundedPagination
from tenantry.core.errors import NotFound

router = Router(tags=["members"], auth=AUTH)


def _member(team_slug: str, request: HttpRequest, membership_id: str) -> tuple:
    access = team_access_for(request, team_slug)
    membership = team_members(team=access.team).filter(pk=membership_id).first() if _uuid(membership_id) else None
    if membership is None:
        raise NotFound("No such member in this team.", code="member_not_found")
    return access, membership


def _uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.get("/teams/{team_slug}/members", response={200: list[MemberOut], **ERRORS}, summary="Members (paginated)")
@paginate(BoundedPagination)
def list_members(request: HttpRequest, team_slug: str) -> QuerySet[Membership]:
    return team_members(team=team_access_for(request, team_slug, "team.view_members").team)


@router.patch("/teams/{team_slug}/members/{membership_id}", response={200: MemberOut, **ERRORS},
              summary="Change a member's role")
def set_role(request: HttpRequest, team_slug: str, membership_id: str, payload: RoleIn) -> Membership:
    access, membership = _member(team_slug, request, membership_id)
    return membership_set_role(membership=membership, role=payload.role, access=access)


@router.delete("/teams/{team_slug}/members/{membership_id}", response={204: None, **ERRORS},
               summary="Remove a member (or leave the team)")
def remove_member(request: HttpRequest, team_slug: str, membership_id: str) -> Status:
    access, membership = _member(team_slug, request, membership_id)
    membership_remove(membership=membership, access=access)
    return Status(204, None)


@router.get("/teams/{team_slug}/invitations", response={200: list[InvitationOut], **ERRORS},
            summary="Open invitations (paginated)")
@paginate(BoundedPagination)
def list_invitations(request: HttpRequest, team_slug: str) -> QuerySet[Invitation]:
    return open_invitations(team=team_access_for(request, team_slug, "team.manage_members").team)


@router.post("/teams/{team_slug}/invitations", response={201: InvitationOut, **ERRORS},
             summary="Invite someone by email")
def create_invitation(request: HttpRequest, team_slug: str, payload: InvitationIn) -> Status:
    access = team_access_for(request, team_slug)
    issued = invitation_create(access=access, email=payload.email, role=payload.role)
    return Status(201, issued.invitation)


@router.delete("/teams/{team_slug}/invitations/{invitation_id}", response={204: None, **ERRORS},
               summary="Cancel an invitation")
def revoke_invitation(request: HttpRequest, team_slug: str, invitation_id: str) -> Status:
    access = team_access_for(request, team_slug)
    if not _uuid(invitation_id):
        raise NotFound("No open invitation with this id in this team.", code="invitation_not_found")
    invitation_revoke(access=access, invitation_id=invitation_id)
    return Status(204, None)
