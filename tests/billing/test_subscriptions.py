"""Checkout, trials, plan changes with proration, cancellation, and the preview (no Docker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tenantry.billing import selectors
from tenantry.billing.entitlements import AppNotInPlan
from tenantry.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from tenantry.billing.services import (
    billing_run,
    invoice_mark_paid,
    subscription_cancel,
    subscription_change,
    subscription_checkout,
)
from tenantry.core.errors import Conflict, ValidationError
from tenantry.core.models import AuditEvent
from tests.billing.billing_helpers import french_vat, make_coupon, make_plan, make_team

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # 10:00 in Paris, on a month end


@time_machine.travel(T0, tick=False)
def test_checkout_issues_a_numbered_invoice_with_tax_and_waits_for_payment() -> None:
    french_vat()
    team = make_team()
    plan = make_plan()
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="user:o")

    assert subscription.status == SubscriptionStatus.INCOMPLETE
    assert subscription.current_period_end == datetime(2026, 2, 28, 9, tzinfo=UTC)  # clamped to Feb 28
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == InvoiceStatus.FINALIZED
    assert invoice.display_number == "INV-000001"
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (2900, 580, 3480)
    assert invoice.buyer["name"] == "Acme SAS"
    assert AuditEvent.objects.filter(action="subscription.checkout", target_id=str(subscription.pk)).exists()

    invoice_mark_paid(invoice=invoice, payment=None, actor="test")
    invoice_mark_paid(invoice=invoice, payment=None, actor="test")  # idempotent
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert AuditEvent.objects.filter(action="invoice.paid", target_id=str(invoice.pk)).count() == 1


@time_machine.travel(T0, tick=False)
def test_double_submitted_checkout_creates_one_subscription_and_one_invoice() -> None:
    team = make_team()
    plan = make_plan()
    first = subscription_checkout(team=team, plan=plan, interval="month", actor="u", idempotency_key="k1")
    again = subscription_checkout(team=team, plan=plan, interval="month", actor="u", idempotency_key="k1")
    no_key = subscription_checkout(team=team, plan=plan, interval="month", actor="u")
    assert first.pk == again.pk == no_key.pk
    assert Subscription.objects.filter(team=team).count() == 1
    assert Invoice.objects.filter(team=team).count() == 1
    with pytest.raises(Conflict):
        subscription_checkout(team=team, plan=make_plan("other", month=5000), interval="month", actor="u")


@time_machine.travel(T0, tick=False)
def test_trial_has_no_invoice_then_the_run_bills_the_first_period() -> None:
    team = make_team()
    plan = make_plan(trial_days=14)
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="u")
    assert subscription.status == SubscriptionStatus.TRIALING
    assert subscription.trial_end == T0 + timedelta(days=14)
    assert not Invoice.objects.filter(team=team).exists()

    billing_run(now=T0 + timedelta(days=13))
    assert not Invoice.objects.filter(team=team).exists()
    billing_run(now=T0 + timedelta(days=14))
    subscription.refresh_from_db()
    invoice = Invoice.objects.get(team=team)
    assert invoice.period_start == T0 + timedelta(days=14)
    assert invoice.period_end == datetime(2026, 3, 14, 9, tzinfo=UTC)
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_plan_must_allow_the_app_and_interval_must_have_a_price() -> None:
    team = make_team()
    plan = make_plan(year=None, allowed_apps=["n8n"])
    with pytest.raises(AppNotInPlan) as excinfo:
        subscription_checkout(team=team, plan=plan, interval="month", actor="u", app="wordpress")
    assert (excinfo.value.code, excinfo.value.status) == ("app_not_in_plan", 403)
    with pytest.raises(ValidationError):
        subscription_checkout(team=team, plan=plan, interval="year", actor="u", app="n8n")
    assert not Subscription.objects.exists() and not Invoice.objects.exists()


@time_machine.travel(T0, tick=False)
def test_coupon_percent_once_applies_to_the_first_invoice_only() -> None:
    team = make_team()
    make_coupon("HALF", duration="once")
    subscription = subscription_checkout(team=team, plan=make_plan(), interval="month", actor="u",
                                         coupon_code="half")
    first = Invoice.objects.get(subscription=subscription)
    assert [line.amount_minor for line in first.lines.all()] == [2900, -1450]
    invoice_mark_paid(invoice=first, payment=None, actor="t")
    billing_run(now=subscription.current_period_end)
    renewal = Invoice.objects.get(subscription=subscription, reason="renewal")
    assert renewal.total_minor == 2900
    with pytest.raises(ValidationError):
        subscription_checkout(team=make_team("other"), plan=make_plan("p2"), interval="month", actor="u",
                              coupon_code="NOPE")


@time_machine.travel(T0, tick=False)
def test_upgrade_now_credits_unused_time_and_charges_the_rest_at_once() -> None:
    team = make_team()
    starter, pro = make_plan(month=3000), make_plan("pro", month=9000)
    subscription = subscription_checkout(team=team, plan=starter, interval="month", actor="u")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    period = subscription.current_period_end - subscription.current_period_start
    with time_machine.travel(T0 + period / 2, tick=False):
        subscription = subscription_change(subscription=subscription, plan=pro, actor="u")
    upgrade = Invoice.objects.get(subscription=subscription, reason="upgrade")
    amounts = [line.amount_minor for line in upgrade.lines.order_by("position")]
    assert amounts == [-1500, 4500]
    assert upgrade.total_minor == 3000 and upgrade.status == InvoiceStatus.FINALIZED
    assert subscription.plan_id == pro.pk


@time_machine.travel(T0, tick=False)
def test_downgrade_waits_for_the_period_end_and_the_preview_shows_it_without_writing() -> None:
    team = make_team()
    business, starter = make_plan("business", month=9900), make_plan(month=2900)
    subscription = subscription_checkout(team=team, plan=business, interval="month", actor="u")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    subscription = subscription_change(subscription=subscription, plan=starter, actor="u")
    assert subscription.plan_id == business.pk and subscription.pending_plan_id == starter.pk
    invoices_before = Invoice.objects.count()
    preview = selectors.invoice_preview(subscription)
    assert preview is not None and preview.invoice.total_minor == 2900 and preview.plan == starter
    assert Invoice.objects.count() == invoices_before  # nothing written

    billing_run(now=subscription.current_period_end)
    subscription.refresh_from_db()
    assert subscription.plan_id == starter.pk and subscription.pending_plan_id is None
    assert Invoice.objects.get(subscription=subscription, reason="renewal").total_minor == 2900


@time_machine.travel(T0, tick=False)
def test_cancel_at_period_end_stops_renewal() -> None:
    team = make_team()
    subscription = subscription_checkout(team=team, plan=make_plan(), interval="month", actor="u")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    subscription_cancel(subscription=subscription, actor="u", at_period_end=True)
    assert selectors.invoice_preview(Subscription.objects.get(pk=subscription.pk)) is None
    report = billing_run(now=subscription.current_period_end)
    subscription.refresh_from_db()
    assert report.invoices == 0 and report.ended == 1
    assert subscription.status == SubscriptionStatus.CANCELED
    assert AuditEvent.objects.filter(action="subscription.canceled", target_id=str(subscription.pk)).exists()


def test_selectors_are_scoped_to_the_team() -> None:
    mine, theirs = make_team("mine"), make_team("theirs")
    plan = make_plan()
    subscription_checkout(team=theirs, plan=plan, interval="month", actor="u")
    assert selectors.team_subscription(mine) is None
    assert not selectors.team_invoices(mine).exists()
    other_invoice = selectors.team_invoices(theirs).get()
    from tenantry.core.errors import NotFound

    with pytest.raises(NotFound):
        selectors.team_invoice(mine, other_invoice.pk)


def test_team_subscription_is_the_live_one_else_the_latest_in_one_query(django_assert_num_queries) -> None:
    """Asked on every API request (the key's plan's rate limit): one query whatever the case."""
    team = make_team()
    assert selectors.team_api_rate(team) is None
    live = subscription_checkout(team=team, plan=make_plan(api_requests_per_minute=120), interval="month",
                                 actor="u")
    Subscription.objects.filter(pk=live.pk).update(status=SubscriptionStatus.ACTIVE)
    # A newer subscription that ended does not hide the live one.
    ended = Subscription.objects.get(pk=live.pk)
    ended.pk, ended.status, ended.idempotency_key = None, SubscriptionStatus.CANCELED, "an-older-one"
    ended.plan = make_plan("old", api_requests_per_minute=30)
    ended._state.adding = True
    ended.save()
    Subscription.objects.filter(pk=ended.pk).update(created_at=live.created_at + timedelta(days=1))
    with django_assert_num_queries(2):
        assert selectors.team_subscription(team).pk == live.pk
        assert selectors.team_api_rate(team) == 120  # the rate limit's lookup agrees, in one query too
    Subscription.objects.filter(pk=live.pk).update(status=SubscriptionStatus.CANCELED)
    with django_assert_num_queries(2):
        assert selectors.team_subscription(team).pk == ended.pk  # none live: the latest
        assert selectors.team_api_rate(team) == 30
