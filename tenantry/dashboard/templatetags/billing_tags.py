"""`{% load billing_tags %}{{ amount_minor|money:currency }}` — amounts are integers in minor units."""

from __future__ import annotations

from django import template

from tenantry.billing.money import format_money

register = template.Library()


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None:
        return ""
    return format_money(int(amount_minor), currency)
