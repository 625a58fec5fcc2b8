"""The calling team's own settings over REST (its time zone)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema

from tenantry.accounts.services.teams import team_set_time_zone
from tenantry.api.auth import access_of
from tenantry.instances.schemas import ErrorOut

router = Router(tags=["team"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class TeamSettingsOut(Schema):
    name: str
    slug: str
    time_zone: str = Field(description="IANA zone the team's apps run their schedules in (n8n's GENERIC_TIMEZONE)")


class TeamSettingsIn(Schema):
    time_zone: str = Field(description="An IANA name such as Europe/Paris; running apps apply it when restarted")


@router.get("/team", response={200: TeamSettingsOut, **ERRORS}, summary="The API key's team")
def team_get(request: HttpRequest):
    return access_of(request).team


@router.patch("/team", response={200: TeamSettingsOut, **ERRORS}, summary="Change the team's time zone")
def team_update(request: HttpRequest, payload: TeamSettingsIn):
    return team_set_time_zone(access=access_of(request), time_zone=payload.time_zone)
