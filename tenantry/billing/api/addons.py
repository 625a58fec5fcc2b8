"""A team's add-ons: list, buy, cancel."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Status

from tenantry.api.pagination import MAX_PAGE_SIZE
from tenantry.billing import selectors, services
from tenantry.billing.api.common import AUTH, ERRORS, billing_access
from tenantry.billing.api.schemas import AddOnBuyIn, AddOnCancelIn, AddOnPurchaseOut
from tenantry.billing.models import AddOnPurchase
from tenantry.core.errors import Conflict, NotFound

router = Router(tags=["billing"], auth=AUTH)


@router.get("/{team_slug}/addons", response={200: list[AddOnPurchaseOut], **ERRORS},
            summary=f"The team's add-ons, newest first (at most {MAX_PAGE_SIZE})")
def list_team_addons(request: HttpRequest, team_slug: str) -> QuerySet[AddOnPurchase]:
    access = billing_access(request, team_slug, "billing.view")
    return selectors.team_addons(access.team)[:MAX_PAGE_SIZE]


@router.post("/{team_slug}/addons", response={201: AddOnPurchaseOut, **ERRORS},
             summary="Buy an add-on for 30 days (invoiced at once, limits raised at once)")
def buy_addon(request: HttpRequest, team_slug: str, payload: AddOnBuyIn) -> Status:
    access = billing_access(request, team_slug, "billing.manage")
    subscription = selectors.team_subscription(access.team)
    if subscription is None or not subscription.is_live:
        raise Conflict("Add-ons need a live subscription.", code="subscription_ended")
    addon = selectors.available_addons(subscription.currency).filter(code=payload.addon).first()
    if addon is None:
        raise NotFound(f"No add-on {payload.addon!r}.", details={"field": "addon"})
    purchase = services.addon_buy(subscription=subscription, addon=addon, actor=access.actor,
                                  quantity=payload.quantity, auto_renew=payload.auto_renew)
    return Status(201, selectors.team_addon(access.team, purchase.pk))


@router.post("/{team_slug}/addons/{purchase_id}/cancel", response={200: AddOnPurchaseOut, **ERRORS},
             summary="Stop renewing an add-on, or end it now")
def cancel_addon(request: HttpRequest, team_slug: str, purchase_id: UUID, payload: AddOnCancelIn) -> AddOnPurchase:
    access = billing_access(request, team_slug, "billing.manage")
    purchase = selectors.team_addon(access.team, purchase_id)
    services.addon_cancel(purchase=purchase, actor=access.actor, now_=payload.immediately)
    return selectors.team_addon(access.team, purchase_id)
