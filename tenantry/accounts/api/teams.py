"""Teams: the caller's teams, one team, renaming, creating (a person), deleting (its owner)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from tenantry.accounts.access import Access
from tenantry.accounts.api.common import AUTH, ERRORS
from tenantry.accounts.api.schemas import TeamDeletionOut, TeamIn, TeamOut
from tenantry.accounts.models import User
from tenantry.accounts.selectors import user_memberships
from tenantry.accounts.services.teams import team_create, team_rename
from tenantry.api.auth import team_access_for
from tenantry.core.errors import ApplicationError
from tenantry.privacy.services.teams import team_delete_by_owner

router = Router(tags=["teams"], auth=AUTH)


class PersonRequired(ApplicationError):
    code = "person_required"
    status = 403


def _out(access: Access) -> dict:
    team = access.team
    return {"id": str(team.pk), "name": team.name, "slug": team.slug, "role": access.role,
            "created_at": team.created_at}


@router.get("/teams", response={200: list[TeamOut], **ERRORS}, summary="The caller's teams (a key: its own)")
def list_teams(request: HttpRequest) -> list[dict]:
    access: Access | None = getattr(request, "access", None)
    if access is not None:
        return [_out(access)]
    user = request.user
    assert isinstance(user, User)
    return [_out(Access(team=m.team, user=user, role=m.role)) for m in user_memberships(user=user)]


@router.post("/teams", response={201: TeamOut, **ERRORS}, summary="Create a team (a signed-in person; owner)")
def create_team(request: HttpRequest, payload: TeamIn) -> Status:
    if getattr(request, "access", None) is not None or not isinstance(request.user, User):
        raise PersonRequired("Teams are created by a person (dashboard session), not by an API key.")
    user = request.user
    team = team_create(name=payload.name, owner=user, actor=f"user:{user.email}")
    return Status(201, _out(Access(team=team, user=user, role="owner")))


@router.get("/teams/{team_slug}", response={200: TeamOut, **ERRORS}, summary="A team")
def show_team(request: HttpRequest, team_slug: str) -> dict:
    return _out(team_access_for(request, team_slug, "team.view_members"))


@router.patch("/teams/{team_slug}", response={200: TeamOut, **ERRORS}, summary="Rename a team (owners)")
def rename_team(request: HttpRequest, team_slug: str, payload: TeamIn) -> dict:
    access = team_access_for(request, team_slug)
    team_rename(access=access, name=payload.name)
    access.team.refresh_from_db()
    return _out(access)


@router.delete("/teams/{team_slug}", response={202: TeamDeletionOut, **ERRORS},
               summary="Delete a team (owners): instances now, backups after the retention")
def delete_team(request: HttpRequest, team_slug: str) -> Status:
    access = team_access_for(request, team_slug)
    deletion = team_delete_by_owner(access=access)
    return Status(202, {"team": access.team.slug, "purge_after": deletion.purge_after})
