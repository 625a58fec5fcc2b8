"""Paid add-ons: bought for 30 days (invoiced at once), raise the team's instance limits at once
(RESIZE), renewed with the subscription while auto-renew is on, shrink back when they expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tenantry.billing.conf import billing_setting
from tenantry.billing.models import AddOn, AddOnPurchase, AddOnStatus, Invoice, Subscription
from tenantry.billing.models.invoices import LineKind
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.billing.services.invoicing import LineDraft, create_invoice
from tenantry.billing.services.resources import apply_team_limits
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, ValidationError

MAX_ADDON_QUANTITY = 16


@transaction.atomic
def addon_buy(*, subscription: Subscription, addon: AddOn, actor: str, quantity: int = 1,
              auto_renew: bool = True) -> AddOnPurchase:
    subscription = (Subscription.objects.select_for_update(of=("self",)).select_related("plan", "account")
        .get(pk=subscription.pk))
    if subscription.status not in LIVE_SUBSCRIPTION_STATUSES:
        raise Conflict("Add-ons need a live subscription.", code="subscription_ended")
    if not subscription.plan.addons_allowed:
        raise ValidationError(f"The {subscription.plan.name} plan does not allow add-ons.", code="addons_not_allowed")
    if not addon.is_active or addon.currency != subscription.currency:
        raise ValidationError("This add-on is not available.", code="addon_unavailable", details={"field": "addon"})
    if not 1 <= quantity <= MAX_ADDON_QUANTITY:
        raise ValidationError(f"Quantity must be between 1 and {MAX_ADDON_QUANTITY}.", details={"field": "quantity"})
    now = timezone.now()
    expires = now + timedelta(days=billing_setting("ADDON_DAYS"))
    purchase = AddOnPurchase.objects.create(
        team_id=subscription.team_id, subscription=subscription, addon=addon, quantity=quantity,
        unit_price_minor=addon.price_minor, currency=addon.currency, starts_at=now, expires_at=expires,
        auto_renew=auto_renew)
    invoice = create_invoice(
        account=subscription.account, subscription=subscription, reason=Invoice.Reason.ADDON,
        currency=addon.currency, actor=actor, period_start=now, period_end=expires,
        lines=[LineDraft(kind=LineKind.ADDON, description=f"{addon.name}, {now:%Y-%m-%d} to {expires:%Y-%m-%d}",
                         unit_amount_minor=addon.price_minor, quantity=quantity,
                         amount_minor=addon.price_minor * quantity, period_start=now, period_end=expires,
                         addon_purchase_id=purchase.pk)])
    purchase.invoice = invoice
    purchase.save(update_fields=["invoice", "updated_at"])
    audit_log(actor=actor, action="addon.buy", target=purchase,
              data={"addon": addon.code, "quantity": quantity, "invoice": invoice.display_number})
    team = subscription.team
    transaction.on_commit(lambda: apply_team_limits(team=team, actor=actor))
    return purchase


@transaction.atomic
def addon_cancel(*, purchase: AddOnPurchase, actor: str, now_: bool = False) -> AddOnPurchase:
    """Stop renewing (the add-on stays until it expires), or end it now (`now_=True`, no refund)."""
    purchase = AddOnPurchase.objects.select_for_update().get(pk=purchase.pk)
    if purchase.status != AddOnStatus.ACTIVE:
        return purchase
    purchase.auto_renew = False
    fields = ["auto_renew", "updated_at"]
    if now_:
        purchase.status, purchase.cancelled_at = AddOnStatus.CANCELLED, timezone.now()
        fields += ["status", "cancelled_at"]
    purchase.save(update_fields=fields)
    audit_log(actor=actor, action="addon.cancel", target=purchase, data={"immediately": now_})
    if now_:
        team = purchase.team
        transaction.on_commit(lambda: apply_team_limits(team=team, actor=actor))
    return purchase


def addons_expire(*, now: datetime | None = None) -> int:
    """Expire add-ons past their date (05:00 UTC task) and shrink the affected teams' instances."""
    now = now or timezone.now()
    teams = set()
    with transaction.atomic():
        due = list(AddOnPurchase.objects.select_for_update().filter(status=AddOnStatus.ACTIVE, expires_at__lte=now)
                   .select_related("team"))
        for purchase in due:
            purchase.status = AddOnStatus.EXPIRED
            purchase.save(update_fields=["status", "updated_at"])
            audit_log(actor="billing:addons", action="addon.expire", target=purchase)
            teams.add(purchase.team)
    for team in teams:
        apply_team_limits(team=team, actor="billing:addons")
    return len(due)
