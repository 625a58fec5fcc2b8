"""Subscriptions: checkout, plan changes (upgrade now with proration, downgrade at period end),
cancel, terminate. Provisioning starts when the subscription starts (trial, zero or paid invoice)."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.entitlements import AppNotInPlan, require_plan_fits
from tenantry.billing.models import (
    AddOnPurchase,
    AddOnStatus,
    Coupon,
    Discount,
    Interval,
    Invoice,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from tenantry.billing.models.invoices import LineKind
from tenantry.billing.models.subscriptions import LIVE_SUBSCRIPTION_STATUSES
from tenantry.billing.periods import period_boundary, prorate
from tenantry.billing.services.accounts import billing_account_for
from tenantry.billing.services.invoicing import LineDraft, create_invoice
from tenantry.billing.services.pricing import consume, period_charges
from tenantry.billing.services.provisioning import instance_name_validate, subscription_provision_failed
from tenantry.billing.services.resources import apply_team_limits, live_instances, team_limits
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, NotFound, ValidationError


def _validate_coupon(code: str | None, currency: str) -> Coupon | None:
    if not code:
        return None
    coupon = Coupon.objects.filter(code__iexact=code.strip(), is_active=True).first()
    now = timezone.now()
    if coupon is None or (coupon.valid_until and coupon.valid_until < now):
        raise ValidationError("This coupon does not exist or has expired.", code="invalid_coupon",
                              details={"field": "coupon_code"})
    if coupon.kind == "fixed" and coupon.currency and coupon.currency != currency:
        raise ValidationError("This coupon is for another currency.", code="invalid_coupon",
                              details={"field": "coupon_code"})
    if coupon.max_redemptions is not None and coupon.discounts.count() >= coupon.max_redemptions:
        raise ValidationError("This coupon has been used up.", code="invalid_coupon", details={"field": "coupon_code"})
    return coupon


def _pick_app(plan: Plan, app: str | None) -> str:
    if app is None:
        return plan.allowed_apps[0] if len(plan.allowed_apps) == 1 else ""
    if not plan.allows_app(app):
        raise AppNotInPlan(f"The {plan.name} plan does not include {app}.",
                           details={"field": "app", "allowed": plan.allowed_apps})
    return app


def subscription_checkout(*, team: Team, plan: Plan, interval: str, actor: str, coupon_code: str | None = None,
                          idempotency_key: str | None = None, app: str | None = None,
                          instance_slug: str | None = None, propose_instance_slug: bool = True) -> Subscription:
    """Start a subscription and issue its first invoice; a repeated submit returns the same one.

    When the plan provisions an app, `instance_slug` names its instance; without one, the team's
    slug is proposed (API, CLI) unless `propose_instance_slug` is off (the dashboard asks the
    customer). Either way the name is checked here, before anything is owed."""
    key = (idempotency_key or "")[:200]
    if key:
        existing = Subscription.objects.filter(team=team, idempotency_key=key).first()
        if existing is not None:
            return existing
    if not plan.is_active:
        raise NotFound("This plan is not available.", code="plan_unavailable")
    price = plan.price_for(interval) if interval in Interval.values else None
    if price is None:
        raise ValidationError(f"The {plan.name} plan has no {interval} price.", details={"field": "interval"})
    chosen_app = _pick_app(plan, app)
    # The instance's name is checked now, while the customer can still change it: once paid, a
    # bad name would leave them with a subscription and nothing running. Without a name (API
    # callers) the team's slug is the proposal, checked the same way.
    slug = ""
    if chosen_app:
        if not instance_slug and not propose_instance_slug:
            raise ValidationError("Choose a name for your instance.", code="instance_name_required",
                                  details={"field": "instance_slug"})
        slug = instance_name_validate(instance_slug or team.slug, team=team)
    coupon = _validate_coupon(coupon_code, plan.currency)
    try:
        with transaction.atomic():
            return _checkout(team=team, plan=plan, interval=interval, actor=actor, coupon=coupon, key=key,
                             app=chosen_app, slug=slug)
    except IntegrityError as exc:  # a concurrent double submit won the one-live-subscription constraint
        live = Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES).first()
        if live is not None and live.plan_id == plan.pk:
            return live
        raise Conflict("The team already has a subscription; change its plan instead.",
                       code="subscription_exists") from exc


def _checkout(*, team: Team, plan: Plan, interval: str, actor: str, coupon: Coupon | None, key: str, app: str,
              slug: str) -> Subscription:
    live = Subscription.objects.select_for_update().filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES).first()
    if live is not None:
        if live.plan_id == plan.pk and live.interval == interval:
            return live  # double submit without a key
        raise Conflict("The team already has a subscription; change its plan instead.", code="subscription_exists")
    account = billing_account_for(team)
    now = timezone.now()
    trial_end = now + timedelta(days=plan.trial_days) if plan.trial_days else None
    anchor = trial_end or now
    subscription = Subscription.objects.create(
        team=team, account=account, plan=plan, interval=interval, currency=plan.currency,
        status=SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.INCOMPLETE, app=app,
        instance_slug=slug, billing_anchor=anchor, current_period_start=now,
        current_period_end=trial_end or period_boundary(anchor, 1, interval, account.time_zone),
        trial_end=trial_end, idempotency_key=key, created_by=actor)
    discounts = [Discount.objects.create(subscription=subscription, coupon=coupon)] if coupon else []
    audit_log(actor=actor, action="subscription.checkout", target=subscription,
              data={"plan": plan.code, "interval": interval, "trial_end": trial_end and trial_end.isoformat(),
                    "coupon": coupon.code if coupon else None})
    if trial_end is None:
        lines, used = period_charges(plan=plan, interval=interval, start=now, end=subscription.current_period_end,
                                     addons=[], discounts=discounts)
        invoice = create_invoice(account=account, subscription=subscription, reason=Invoice.Reason.CHECKOUT,
                                 currency=plan.currency, lines=lines, actor=actor, period_start=now,
                                 period_end=subscription.current_period_end)
        consume(used, now)
        for discount in used:
            discount.save(update_fields=["periods_applied", "ended_at", "updated_at"])
        if invoice.status != "paid":
            return subscription  # provisioning waits for the payment (invoice_mark_paid)
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.save(update_fields=["status", "updated_at"])
    subscription_start_service(subscription=subscription, actor=actor)
    return subscription


def subscription_start_service(*, subscription: Subscription, actor: str) -> None:
    """Provision the subscription's instance once (trial start, zero invoice or first payment)."""
    if subscription.provisioned or not subscription.app:
        return
    from tenantry.instances.services import instance_create

    limits = team_limits(subscription.team, subscription.plan)
    assert limits is not None
    try:
        with transaction.atomic():
            instance_create(team=subscription.team, slug=subscription.instance_slug, app=subscription.app,
                            actor=actor, memory_mb=limits.memory_mb, cpus=float(limits.cpus))
    except ApplicationError as exc:  # the subscription stands: the customer sees why, the operator is told
        subscription_provision_failed(subscription=subscription, error=exc, actor=actor)
        return
    Subscription.objects.filter(pk=subscription.pk).update(provisioned=True, provision_error_code="",
                                                           provision_error="")
    subscription.provisioned, subscription.provision_error_code, subscription.provision_error = True, "", ""
    audit_log(actor=actor, action="subscription.provision", target=subscription,
              data={"app": subscription.app, "slug": subscription.instance_slug})


def _monthly_equivalent(plan: Plan, interval: str) -> int:
    price = plan.price_for(interval) or 0
    return price if interval == Interval.MONTH else price // 12


@transaction.atomic
def subscription_change(*, subscription: Subscription, plan: Plan, actor: str,
                        interval: str | None = None) -> Subscription:
    """Upgrade now (credit the unused time of the old plan, charge the new one for the rest of the
    period, invoiced at once) or downgrade at the period end (cheaper plan or another interval)."""
    subscription = (Subscription.objects.select_for_update(of=("self",)).select_related("plan", "account")
        .get(pk=subscription.pk))
    interval = interval or subscription.interval
    if not subscription.is_live:
        raise Conflict("This subscription has ended.", code="subscription_ended")
    if plan.price_for(interval) is None or not plan.is_active or plan.currency != subscription.currency:
        raise ValidationError("This plan is not available for this subscription.", details={"field": "plan"})
    if subscription.app and not plan.allows_app(subscription.app):
        raise AppNotInPlan(f"The {plan.name} plan does not include {subscription.app}.", details={"field": "plan"})
    require_plan_fits(team=subscription.team, plan=plan)
    old = subscription.plan
    if plan.pk == old.pk and interval == subscription.interval:
        subscription.pending_plan, subscription.pending_interval = None, ""
        subscription.save(update_fields=["pending_plan", "pending_interval", "updated_at"])
        return subscription
    upgrade = (interval == subscription.interval
               and _monthly_equivalent(plan, interval) > _monthly_equivalent(old, subscription.interval))
    if not upgrade:
        subscription.pending_plan, subscription.pending_interval = plan, interval
        subscription.save(update_fields=["pending_plan", "pending_interval", "updated_at"])
        audit_log(actor=actor, action="subscription.downgrade_scheduled", target=subscription,
                  data={"from": old.code, "to": plan.code, "at": subscription.current_period_end.isoformat()})
        return subscription
    now = timezone.now()
    start, end = subscription.current_period_start, subscription.current_period_end
    if subscription.status != SubscriptionStatus.TRIALING:
        credit = prorate(old.price_for(interval) or 0, start, end, now, end)
        charge = prorate(plan.price_for(interval) or 0, start, end, now, end)
        lines = [LineDraft(kind=LineKind.PRORATION, description=f"Unused time on {old.name}", amount_minor=-credit,
                           period_start=now, period_end=end),
                 LineDraft(kind=LineKind.PRORATION, description=f"Remaining time on {plan.name}", amount_minor=charge,
                           period_start=now, period_end=end)]
        create_invoice(account=subscription.account, subscription=subscription, reason=Invoice.Reason.UPGRADE,
                       currency=subscription.currency, lines=lines, actor=actor, period_start=now, period_end=end)
    subscription.plan, subscription.pending_plan, subscription.pending_interval = plan, None, ""
    subscription.save(update_fields=["plan", "pending_plan", "pending_interval", "updated_at"])
    audit_log(actor=actor, action="subscription.upgrade", target=subscription, data={"from": old.code, "to": plan.code})
    transaction.on_commit(lambda: apply_team_limits(team=subscription.team, actor=actor))
    return subscription


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, actor: str, at_period_end: bool = True) -> Subscription:
    """At the period end (service continues until then; undo with subscription_resume_renewal) or now
    (service ends now: the team's instances are archived)."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if not subscription.is_live:
        return subscription
    if at_period_end:
        subscription.cancel_at_period_end, subscription.canceled_at = True, timezone.now()
        subscription.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
        audit_log(actor=actor, action="subscription.cancel_scheduled", target=subscription,
                  data={"at": subscription.current_period_end.isoformat()})
        return subscription
    _end(subscription, SubscriptionStatus.CANCELED, actor, reason="canceled")
    return subscription


@transaction.atomic
def subscription_resume_renewal(*, subscription: Subscription, actor: str) -> Subscription:
    """Undo a scheduled cancellation."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.is_live and subscription.cancel_at_period_end:
        subscription.cancel_at_period_end, subscription.canceled_at = False, None
        subscription.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
        audit_log(actor=actor, action="subscription.cancel_undone", target=subscription)
    return subscription


@transaction.atomic
def subscription_terminate(*, subscription: Subscription, actor: str, reason: str) -> None:
    """End the subscription now and archive the team's instances (final backup, data kept)."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status == SubscriptionStatus.TERMINATED:
        return
    _end(subscription, SubscriptionStatus.TERMINATED, actor, reason=reason)


def _end(subscription: Subscription, status: str, actor: str, *, reason: str) -> None:
    from tenantry.instances.lifecycle import instance_archive

    now = timezone.now()
    subscription.status, subscription.ended_at = status, now
    subscription.canceled_at = subscription.canceled_at or now
    subscription.save(update_fields=["status", "ended_at", "canceled_at", "updated_at"])
    AddOnPurchase.objects.filter(subscription=subscription, status=AddOnStatus.ACTIVE).update(
        status=AddOnStatus.CANCELLED, cancelled_at=now, updated_at=now)
    audit_log(actor=actor, action=f"subscription.{status}", target=subscription, data={"reason": reason})
    for instance in live_instances(subscription.team):
        try:
            instance_archive(instance=instance, actor=actor, reason=reason)
        except ApplicationError as exc:
            audit_log(actor=actor, action="instance.archive_deferred", target=instance, data={"error": exc.code})

