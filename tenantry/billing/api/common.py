"""Who may use the billing API: a signed-in member of the team in the URL (session + CSRF), or a
team API key — which has billing rights only when given them explicitly (ApiKey.billing; 403 otherwise)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest

from tenantry.accounts.access import Access
from tenantry.accounts.models import User
from tenantry.api.auth import ApiKeyAuth, SessionThenCsrfAuth
from tenantry.core.errors import NotFound
from tenantry.instances.schemas import ErrorOut

ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
                          500: ErrorOut}
AUTH = [ApiKeyAuth(), SessionThenCsrfAuth()]


def billing_access(request: HttpRequest, team_slug: str, permission: str) -> Access:
    from tenantry.dashboard.context import team_access

    access: Access | None = getattr(request, "access", None)
    if access is not None:  # API key: only its own team, and the permission check says no to billing
        if access.team.slug != team_slug:
            raise NotFound("No such team.")
    else:
        if not isinstance(request.user, User):
            raise NotFound("No such team.")
        try:
            access = team_access(request, team_slug)
        except Http404 as exc:
            raise NotFound("No such team.") from exc
    access.require(permission)
    return access
