"""What a period costs: plan line, renewed add-ons, coupon discounts (pure given loaded rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tenantry.billing.models import AddOnPurchase, Coupon, CouponDuration, Discount, DiscountKind, Plan
from tenantry.billing.models.invoices import LineKind
from tenantry.billing.money import percent_of
from tenantry.billing.services.invoicing import LineDraft

MONTHS = {"month": 1, "year": 12}


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"


def plan_line(plan: Plan, interval: str, start: datetime, end: datetime) -> LineDraft:
    price = plan.price_for(interval) or 0
    return LineDraft(kind=LineKind.PLAN, description=f"{plan.name} ({interval}ly), {_span(start, end)}",
                     amount_minor=price, period_start=start, period_end=end)


def addon_lines(purchases: Sequence[AddOnPurchase], interval: str, start: datetime, end: datetime) -> list[LineDraft]:
    """Auto-renewed add-ons are billed with the subscription: monthly price x months of the interval."""
    lines = []
    for purchase in purchases:
        unit = purchase.unit_price_minor * MONTHS[interval]
        lines.append(LineDraft(kind=LineKind.ADDON, description=f"{purchase.addon.name}, {_span(start, end)}",
                               unit_amount_minor=unit, quantity=purchase.quantity,
                               amount_minor=unit * purchase.quantity, period_start=start, period_end=end,
                               addon_purchase_id=purchase.pk))
    return lines


def discount_is_live(discount: Discount) -> bool:
    coupon = discount.coupon
    if discount.ended_at is not None:
        return False
    if coupon.duration == CouponDuration.ONCE:
        return discount.periods_applied < 1
    if coupon.duration == CouponDuration.REPEATING:
        return discount.periods_applied < (coupon.duration_periods or 1)
    return True


def discount_line(coupon: Coupon, base_minor: int) -> LineDraft | None:
    """A negative line; a fixed discount never exceeds what it discounts."""
    if base_minor <= 0:
        return None
    if coupon.kind == DiscountKind.PERCENT:
        amount = percent_of(base_minor, coupon.percent or 0)
    else:
        amount = min(coupon.amount_minor or 0, base_minor)
    if amount <= 0:
        return None
    return LineDraft(kind=LineKind.DISCOUNT, description=f"Coupon {coupon.code}", amount_minor=-amount)


def discount_lines(discounts: Sequence[Discount], base_minor: int) -> tuple[list[LineDraft], list[Discount]]:
    """Lines for the live discounts (applied one after the other) and the discounts they consumed."""
    lines, used = [], []
    remaining = base_minor
    for discount in discounts:
        if not discount_is_live(discount):
            continue
        line = discount_line(discount.coupon, remaining)
        if line is not None:
            lines.append(line)
            used.append(discount)
            remaining += line.amount_minor
    return lines, used


def consume(discounts: Sequence[Discount], now: datetime) -> None:
    """Count one more period on each used discount (in memory; callers save)."""
    for discount in discounts:
        discount.periods_applied += 1
        if not discount_is_live(discount):
            discount.ended_at = now


def period_charges(*, plan: Plan, interval: str, start: datetime, end: datetime,
                   addons: Sequence[AddOnPurchase],
                   discounts: Sequence[Discount]) -> tuple[list[LineDraft], list[Discount]]:
    lines = [plan_line(plan, interval, start, end), *addon_lines(addons, interval, start, end)]
    extra, used = discount_lines(discounts, sum(line.amount_minor for line in lines))
    return lines + extra, used
