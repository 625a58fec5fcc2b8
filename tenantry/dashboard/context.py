"""Resolve the team a dashboard URL names, for the signed-in user, or answer 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from tenantry.accounts.access import Access
from tenantry.accounts.models import Membership, User
from tenantry.core.errors import NotFound


def signed_in_user(request: HttpRequest) -> User:
    """The request's user, in views that require a login."""
    user = request.user
    if not isinstance(user, User):
        raise Http404("Not signed in")
    return user


def team_access(request: HttpRequest, team_slug: str) -> Access:
    membership = (Membership.objects.select_related("team", "user")
                  .filter(user=signed_in_user(request), team__slug=team_slug).first())
    if membership is None:  # not a member: the team does not exist, as far as this user knows
        raise Http404("No such team")
    return Access(team=membership.team, user=membership.user, role=membership.role)


def with_team(permission: str | None = None) -> Callable[..., Any]:
    """View decorator: signed in, member of the URL's team, and (optionally) allowed to."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, team_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            access = team_access(request, team_slug)
            if permission is not None and not access.allows(permission):
                raise Http404("Not allowed")  # do not reveal what exists to who may not see it
            request.access = access  # type: ignore[attr-defined]
            try:
                return view(request, access, *args, **kwargs)
            except NotFound as exc:  # another team's object looks exactly like a missing one
                raise Http404(exc.message) from exc

        return wrapper

    return decorate
