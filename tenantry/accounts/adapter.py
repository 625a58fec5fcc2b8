"""allauth hooks: every new user gets a team; emails go out as HTML + text in their language."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.http import HttpRequest

from tenantry.accounts.services.invitations import PENDING_INVITATION_SESSION_KEY
from tenantry.accounts.services.teams import ensure_personal_team


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            ensure_personal_team(user)
        return user

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        ensure_personal_team(request.user)  # type: ignore[arg-type]
        pending = request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
        if pending:  # they came from an invitation link: take them back to it
            return f"/invitations/{pending}/"
        return super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return self.get_login_redirect_url(request)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        ensure_personal_team(user)
        return user
