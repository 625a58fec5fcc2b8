"""How API callers authenticate: a team API key as bearer token, or (billing) a signed-in
dashboard session with its CSRF token. Routers import from here, never from the API root."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf

from tenantry.accounts.access import Access
from tenantry.accounts.services.api_keys import api_key_authenticate
from tenantry.api.ratelimit import check_api_key
from tenantry.core.errors import ApplicationError


class CsrfFailed(ApplicationError):
    code = "csrf_failed"
    status = 403


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = api_key_authenticate(token)
        if key is not None:
            request.access = Access(team=key.team, api_key=key)  # type: ignore[attr-defined]
            check_api_key(request, key)
        return key


class SessionThenCsrfAuth(SessionAuth):
    """A signed-in session, then its CSRF token on unsafe methods.

    django-ninja's SessionAuth checks CSRF before it looks at the session, so a caller with no
    session at all got `403 CSRF check Failed` instead of a 401; here who you are comes first.
    A signed-in POST without the CSRF token is still refused (403 `csrf_failed`): the session
    cookie travels with any cross-site request, the token does not.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request) is not None:
            raise CsrfFailed("CSRF token missing or incorrect: send the csrftoken cookie's value as X-CSRFToken.")
        return request.user


def access_of(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined]


def team_access_for(request: HttpRequest, team_slug: str, permission: str | None = None) -> Access:
    """The caller's access to the team in the URL: an API key's own team only, or a signed-in
    member's; any other team does not exist (404). Then the permission, when one is named (403)."""
    from tenantry.accounts.models import Membership, User
    from tenantry.core.errors import NotFound

    access: Access | None = getattr(request, "access", None)
    if access is None:
        user = request.user
        membership = (Membership.objects.select_related("team", "user").filter(user=user, team__slug=team_slug)
                      .first() if isinstance(user, User) else None)
        if membership is None:
            raise NotFound("No such team.", code="team_not_found")
        access = Access(team=membership.team, user=membership.user, role=membership.role)
        request.access = access  # type: ignore[attr-defined]
    elif access.team.slug != team_slug:
        raise NotFound("No such team.", code="team_not_found")
    if permission is not None:
        access.require(permission)
    return access
