"""Signup ends with a plan choice: the account adapter sends a new customer whose team has no
subscription to the plan page (when plans are on sale), where they pick a plan and an app and pay."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from tenantry.accounts.adapter import AccountAdapter
from tenantry.accounts.models import User
from tenantry.accounts.services.teams import ensure_personal_team


class BillingAccountAdapter(AccountAdapter):
    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        url = super().get_signup_redirect_url(request)
        if url.startswith("/invitations/") or not isinstance(request.user, User):
            return url  # joining someone else's team: their plan applies
        from tenantry.billing import selectors

        team = ensure_personal_team(request.user)
        if selectors.public_plans().exists() and selectors.team_subscription(team) is None:
            return reverse("dashboard:billing_plans", args=[team.slug]) + "?signup=1"
        return url
