from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from ninja import Schema
from pydantic import AliasChoices, Field

from tenantry.billing.services.addons import MAX_ADDON_QUANTITY


class PlanOut(Schema):
    code: str
    name: str
    description: str
    currency: str
    price_month_minor: int | None
    price_year_minor: int | None
    trial_days: int
    allowed_apps: list[str]
    max_instances: int
    memory_mb: int
    cpus: Decimal
    storage_gb: int
    traffic_gb_month: int
    app_limits: dict
    offsite_backups: bool
    priority_support: bool
    addons_allowed: bool


class SubscriptionOut(Schema):
    id: UUID
    plan: str = Field(validation_alias="plan.code")
    interval: str
    currency: str
    status: str
    app: str
    current_period_start: datetime
    current_period_end: datetime
    trial_end: datetime | None
    cancel_at_period_end: bool
    pending_plan: str | None = Field(default=None, validation_alias="pending_plan.code")
    pending_interval: str


class CheckoutIn(Schema):
    plan: str = Field(description="Plan code", examples=["starter"], max_length=40)
    interval: str = Field(default="month", examples=["month", "year"], max_length=10)
    coupon_code: str | None = Field(default=None, max_length=40)
    app: str | None = Field(default=None, max_length=40)
    instance_slug: str | None = Field(default=None, max_length=40)


class ChangeIn(Schema):
    plan: str = Field(max_length=40)
    interval: str | None = Field(default=None, max_length=10)


class CancelIn(Schema):
    at_period_end: bool = True


class LineOut(Schema):
    position: int
    kind: str
    description: str
    quantity: int
    unit_amount_minor: int
    amount_minor: int


class InvoiceOut(Schema):
    id: UUID | None = None
    number: str = Field(validation_alias=AliasChoices("display_number", "number"))
    status: str
    reason: str
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    tax_name: str
    tax_percent: Decimal
    vat_id: str
    issued_at: datetime | None
    paid_at: datetime | None


class InvoiceDetailOut(InvoiceOut):
    lines: list[LineOut]


class AddOnOut(Schema):
    code: str
    name: str
    resource: str
    quantity: Decimal
    currency: str
    price_minor: int
    duration_days: int


class AddOnPurchaseOut(Schema):
    id: UUID
    addon: str = Field(validation_alias="addon.code")
    quantity: int
    status: str
    unit_price_minor: int
    currency: str
    starts_at: datetime
    expires_at: datetime
    auto_renew: bool


class AddOnBuyIn(Schema):
    addon: str = Field(max_length=40)
    quantity: int = Field(default=1, ge=1, le=MAX_ADDON_QUANTITY)
    auto_renew: bool = True


class AddOnCancelIn(Schema):
    immediately: bool = False
