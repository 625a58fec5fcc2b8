"""Plans and add-ons on sale (public: any authenticated caller may read them)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router

from tenantry.billing import selectors
from tenantry.billing.api.common import AUTH
from tenantry.billing.api.schemas import AddOnOut, PlanOut
from tenantry.billing.models import AddOn, Plan

router = Router(tags=["billing"], auth=AUTH)


@router.get("/plans", response=list[PlanOut], summary="Plans on sale")
def list_plans(request: HttpRequest) -> QuerySet[Plan]:
    return selectors.public_plans()


@router.get("/addons", response=list[AddOnOut], summary="Add-ons on sale")
def list_addons(request: HttpRequest, currency: str | None = None) -> QuerySet[AddOn]:
    return selectors.available_addons(currency)
