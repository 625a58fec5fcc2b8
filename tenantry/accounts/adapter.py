"""allauth hooks: every new user gets a team; emails go out as HTML + text in their language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.http import HttpRequest

from tenantry.accounts.services.invitations import PENDING_INVITATION_SESSION_KEY
from tenantry.accounts.services.teams import ensure_personal_team
from tenantry.core.links import dashboard_url, on_dashboard


@dataclass(frozen=True)
class DashboardSite:
    """What allauth's mails call `current_site`, from the configured dashboard address."""

    domain: str
    name: str

    @classmethod
    def configured(cls) -> DashboardSite:
        host = urlsplit(dashboard_url()).netloc
        return cls(domain=host, name=host)


class AccountAdapter(DefaultAccountAdapter):
    # Every link allauth mails (confirm the address, reset the password, sign up) and the site
    # named in them come from TENANTRY_DASHBOARD_URL: allauth builds them from the request's
    # Host, which whoever asks for a password reset chooses.
    def get_reset_password_from_key_url(self, key: str) -> str:
        return on_dashboard(super().get_reset_password_from_key_url(key))

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        return on_dashboard(super().get_email_confirmation_url(request, emailconfirmation))

    # White label: allauth's mails carry the brand's name as sender and subject prefix.
    def get_from_email(self) -> str:
        from tenantry.notifications.email import branded_from

        return branded_from()

    def format_email_subject(self, subject: str) -> str:
        from tenantry.branding.selectors import current_brand

        return f"[{current_brand().name}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        context = {key: on_dashboard(value) if key.endswith("_url") and isinstance(value, str)
                   and value.startswith(("http://", "https://")) else value for key, value in context.items()}
        context["current_site"] = DashboardSite.configured()
        super().send_mail(template_prefix, email, context)

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
