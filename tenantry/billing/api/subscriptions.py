"""A team's subscription: show, checkout, preview the next invoice, change plan, cancel."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Header, Router, Status

from tenantry.billing import selectors, services
from tenantry.billing.api.common import AUTH, ERRORS, billing_access
from tenantry.billing.api.schemas import CancelIn, ChangeIn, CheckoutIn, InvoiceDetailOut, SubscriptionOut
from tenantry.billing.models import Plan, Subscription
from tenantry.core.errors import NotFound

router = Router(tags=["billing"], auth=AUTH)


def _plan(code: str) -> Plan:
    plan = selectors.public_plans().filter(code=code).first()
    if plan is None:
        raise NotFound(f"No plan {code!r}.", details={"field": "plan"})
    return plan


def _subscription(team_slug: str, request: HttpRequest, permission: str) -> tuple[Subscription, str]:
    access = billing_access(request, team_slug, permission)
    subscription = selectors.team_subscription(access.team)
    if subscription is None:
        raise NotFound("This team has no subscription.")
    return subscription, access.actor


@router.get("/{team_slug}/subscription", response={200: SubscriptionOut, **ERRORS}, summary="The subscription")
def show_subscription(request: HttpRequest, team_slug: str) -> Subscription:
    return _subscription(team_slug, request, "billing.view")[0]


@router.post("/{team_slug}/subscription", response={201: SubscriptionOut, **ERRORS},
             summary="Subscribe (checkout); repeat-safe with Idempotency-Key")
def checkout(request: HttpRequest, team_slug: str, payload: CheckoutIn,
             idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200)) -> Status:
    access = billing_access(request, team_slug, "billing.manage")
    subscription = services.subscription_checkout(
        team=access.team, plan=_plan(payload.plan), interval=payload.interval, actor=access.actor,
        coupon_code=payload.coupon_code, idempotency_key=idempotency_key, app=payload.app,
        instance_slug=payload.instance_slug)
    return Status(201, Subscription.objects.select_related("plan", "pending_plan").get(pk=subscription.pk))


@router.get("/{team_slug}/subscription/preview", response={200: InvoiceDetailOut, 204: None, **ERRORS},
            summary="The next invoice as it would be issued now (nothing is written)")
def preview(request: HttpRequest, team_slug: str) -> Status:
    subscription, _ = _subscription(team_slug, request, "billing.view")
    result = selectors.invoice_preview(subscription)
    if result is None:
        return Status(204, None)
    body = InvoiceDetailOut.model_validate(result.invoice).model_dump(mode="json", exclude={"lines"})
    body["lines"] = [{"position": line.position, "kind": line.kind, "description": line.description,
                      "quantity": line.quantity, "unit_amount_minor": line.unit_amount_minor,
                      "amount_minor": line.amount_minor} for line in result.lines]
    return Status(200, body)


@router.post("/{team_slug}/subscription/change", response={200: SubscriptionOut, **ERRORS},
             summary="Upgrade now (prorated invoice) or downgrade at the period end")
def change(request: HttpRequest, team_slug: str, payload: ChangeIn) -> Subscription:
    subscription, actor = _subscription(team_slug, request, "billing.manage")
    services.subscription_change(subscription=subscription, plan=_plan(payload.plan), actor=actor,
                                 interval=payload.interval)
    return Subscription.objects.select_related("plan", "pending_plan").get(pk=subscription.pk)


@router.post("/{team_slug}/subscription/cancel", response={200: SubscriptionOut, **ERRORS},
             summary="Cancel at the period end (default) or now")
def cancel(request: HttpRequest, team_slug: str, payload: CancelIn) -> Subscription:
    subscription, actor = _subscription(team_slug, request, "billing.manage")
    services.subscription_cancel(subscription=subscription, actor=actor, at_period_end=payload.at_period_end)
    return Subscription.objects.select_related("plan", "pending_plan").get(pk=subscription.pk)
