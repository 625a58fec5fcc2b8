"""A team's API keys: list, create (shown once), revoke."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from tenantry.accounts.api.common import AUTH, ERRORS
from tenantry.accounts.api.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut
from tenantry.accounts.models import ApiKey
from tenantry.accounts.selectors import team_api_keys
from tenantry.accounts.services.api_keys import api_key_create, api_key_revoke
from tenantry.api.auth import team_access_for
from tenantry.api.pagination import BoundedPagination

router = Router(tags=["api-keys"], auth=AUTH)


@router.get("/teams/{team_slug}/api-keys", response={200: list[ApiKeyOut], **ERRORS}, summary="API keys (paginated)")
@paginate(BoundedPagination)
def list_keys(request: HttpRequest, team_slug: str) -> QuerySet[ApiKey]:
    return team_api_keys(team=team_access_for(request, team_slug, "team.manage_api_keys").team)


@router.post("/teams/{team_slug}/api-keys", response={201: ApiKeyCreatedOut, **ERRORS},
             summary="Create an API key (billing rights only when asked, and held by the caller)")
def create_key(request: HttpRequest, team_slug: str, payload: ApiKeyIn) -> Status:
    access = team_access_for(request, team_slug, "team.manage_api_keys")
    issued = api_key_create(team=access.team, name=payload.name, scope=payload.scope, billing=payload.billing,
                            created_by=access.user, actor=access.actor, granted_by=access)
    return Status(201, {"key": issued.key, "secret": issued.plaintext})


@router.delete("/teams/{team_slug}/api-keys/{prefix}", response={204: None, **ERRORS}, summary="Revoke an API key")
def revoke_key(request: HttpRequest, team_slug: str, prefix: str) -> Status:
    access = team_access_for(request, team_slug, "team.manage_api_keys")
    api_key_revoke(team=access.team, prefix=prefix, actor=access.actor)
    return Status(204, None)
