"""Billing accounts (one per team) and the shared helpers of the billing services."""

from __future__ import annotations

from django.db import transaction

from tenantry.accounts.models import Membership, Role, Team
from tenantry.billing.models import BillingAccount
from tenantry.core.errors import ApplicationError


class BillingError(ApplicationError):
    code = "billing_error"
    status = 422


def billing_account_for(team: Team) -> BillingAccount:
    """The team's billing profile, created on first use with the team owner's email."""
    account = BillingAccount.objects.filter(team=team).first()
    if account is not None:
        return account
    owner = (Membership.objects.filter(team=team, role=Role.OWNER).select_related("user")
             .order_by("created_at").first())
    with transaction.atomic():
        account, _ = BillingAccount.objects.get_or_create(
            team=team, defaults={"billing_email": owner.user.email if owner else ""})
    return account


def billing_recipients(account: BillingAccount) -> list[str]:
    if account.billing_email:
        return [account.billing_email]
    return list(Membership.objects.filter(team_id=account.team_id, role__in=[Role.OWNER, Role.BILLING])
                .values_list("user__email", flat=True))
