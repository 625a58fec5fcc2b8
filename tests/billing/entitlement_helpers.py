"""A team with a plan: what every test that creates instances for a customer team needs now that
creation asks the plan (tenantry.billing.entitlements)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tenantry.accounts.models import Team
from tenantry.billing.models import Plan, Subscription
from tenantry.billing.services import subscription_checkout


def subscribe(team: Team, *, trial_days: int = 14, **plan_fields: Any) -> Subscription:
    """Put the team on a plan of its own (a trial by default: live at once, no invoice, nothing
    provisioned; not on sale to others). Plan fields override the generous defaults: 10 instances
    of any app, 1 GB, 1 CPU."""
    allowed_apps = plan_fields.pop("allowed_apps", [])
    fields: dict[str, Any] = {"name": f"Plan of {team.slug}", "currency": "EUR", "price_month_minor": 2900,
                              "trial_days": trial_days, "is_public": False, "max_instances": 10, "memory_mb": 1024,
                              "cpus": Decimal("1"), **plan_fields}
    plan = Plan.objects.create(code=f"plan-{team.slug}"[:40], **fields)
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="test")
    # Set after the checkout: a plan of exactly one app would provision it at checkout, and the
    # tests using this want to create their instances themselves.
    Plan.objects.filter(pk=plan.pk).update(allowed_apps=allowed_apps)
    subscription.plan.refresh_from_db()
    return subscription
