"""Builders for the billing domain tests (plans without an app, so no Docker is needed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tenantry.accounts.models import Membership, Role, Team, User
from tenantry.billing.models import AddOn, BillingAccount, Coupon, Plan, TaxRate


def make_team(slug: str = "acme", *, country: str = "FR", vat_id: str = "", time_zone: str = "Europe/Paris",
              email: str | None = None) -> Team:
    team = Team.objects.create(name=slug.title(), slug=slug)
    user = User.objects.create_user(email=email or f"owner@{slug}.test", password="x" * 16)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    BillingAccount.objects.create(team=team, country=country, vat_id=vat_id, time_zone=time_zone,
                                  billing_email=email or f"billing@{slug}.test", legal_name=f"{slug.title()} SAS")
    return team


def make_plan(code: str = "starter", *, month: int = 2900, year: int | None = 29000, currency: str = "EUR",
              **extra: Any) -> Plan:
    defaults: dict[str, Any] = {"name": code.title(), "currency": currency, "price_month_minor": month,
                                "price_year_minor": year, "memory_mb": 256, "cpus": Decimal("0.5")}
    return Plan.objects.create(code=code, **{**defaults, **extra})


def french_vat() -> TaxRate:
    return TaxRate.objects.create(country="FR", name="TVA", percent=Decimal("20.00"))


def make_addon(code: str = "ram-500", resource: str = "memory", quantity: int = 500, price: int = 100) -> AddOn:
    return AddOn.objects.create(code=code, name=f"+{quantity} {resource}", resource=resource,
                                quantity=Decimal(quantity), price_minor=price)


def make_coupon(code: str = "HALF", **extra: Any) -> Coupon:
    return Coupon.objects.create(code=code, **{"kind": "percent", "percent": Decimal(50), **extra})
