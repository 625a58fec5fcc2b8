"""The dunning timeline without instances (frozen clock): past due -> retries on schedule ->
suspended -> archived (subscription terminated) -> deleted; an external engine's verdicts; the
operator overview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tenantry.billing.models import AccountState, BillingAccount, Invoice, SubscriptionStatus
from tenantry.billing.selectors import operator_billing_overview
from tenantry.billing.services import (
    dunning_advance,
    engine_payment_failed,
    engine_payment_succeeded,
    invoice_mark_paid,
    invoice_payment_failed,
    subscription_checkout,
)
from tenantry.core.models import AuditEvent
from tests.billing.billing_helpers import make_plan, make_team

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 10, 8, tzinfo=UTC)


@time_machine.travel(T0, tick=False)
def test_timeline_runs_to_deletion_when_nobody_pays(settings, mailoutbox, django_capture_on_commit_callbacks) -> None:
    settings.TENANTRY_BILLING = {"RETRY_DAYS": [1, 3], "SUSPEND_AFTER_DAYS": 4, "ARCHIVE_AFTER_DAYS": 10,
                                 "DELETE_AFTER_DAYS": 20}
    team = make_team("late")
    subscription = subscription_checkout(team=team, plan=make_plan(), interval="month", actor="u")
    invoice = Invoice.objects.get(subscription=subscription)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_payment_failed(invoice=invoice, payment=None, actor="provider")
        invoice_payment_failed(invoice=invoice, payment=None, actor="provider")  # a second failure: same timeline
    account = BillingAccount.objects.get(team=team)
    assert (account.state, account.next_retry_at) == (AccountState.PAST_DUE, T0 + timedelta(days=1))
    assert len([m for m in mailoutbox if "payment failed" in m.subject.lower()]) == 2

    timeline = []
    for day in (0.5, 1, 2, 3, 4, 13, 14, 33, 34, 40):
        with django_capture_on_commit_callbacks(execute=True):
            counts = dunning_advance(now=T0 + timedelta(days=day))
        timeline.append((day, {k: v for k, v in counts.items() if v}))
    # No payment method to charge without the customer: each retry is a reminder, and says so.
    assert timeline == [(0.5, {}), (1, {"reminded": 1}), (2, {}), (3, {"reminded": 1}), (4, {"suspended": 1}),
                        (13, {}), (14, {"archived": 1}), (33, {}), (34, {"deleted": 1}), (40, {})]
    account.refresh_from_db()
    subscription.refresh_from_db()
    assert account.state == AccountState.DELETED
    assert subscription.status == SubscriptionStatus.TERMINATED
    reminders = [m for m in mailoutbox if "reminder" in m.subject.lower()]
    assert len(reminders) == 2 and all("We cannot charge it without you" in m.body for m in reminders)
    assert any("suspended" in m.subject.lower() for m in mailoutbox)
    states = list(AuditEvent.objects.filter(target_id=str(account.pk), action__startswith="billing_account.")
                  .order_by("id").values_list("action", flat=True))
    assert states == ["billing_account.past_due", "billing_account.retry", "billing_account.retry_outcome",
                      "billing_account.retry", "billing_account.retry_outcome", "billing_account.suspended",
                      "billing_account.archived", "billing_account.deleted"]


@time_machine.travel(T0, tick=False)
def test_paying_during_grace_ends_dunning_and_overview_shows_the_state() -> None:
    plan = make_plan()
    good, bad = make_team("good"), make_team("bad")
    for team in (good, bad):
        subscription_checkout(team=team, plan=plan, interval="month", actor="u")
    invoice_mark_paid(invoice=Invoice.objects.get(team=good), payment=None, actor="t")
    bad_invoice = Invoice.objects.get(team=bad)
    invoice_payment_failed(invoice=bad_invoice, payment=None, actor="provider")

    overview = operator_billing_overview()
    assert overview.mrr_minor == {"EUR": 2900}  # only the active subscription counts
    assert [i.pk for i in overview.unpaid_invoices] == [bad_invoice.pk]
    assert overview.unpaid_total_minor == {"EUR": 2900}
    assert [a.team.slug for a in overview.suspended_accounts] == ["bad"]
    assert overview.accounts_by_state == {"active": 1, "past_due": 1}

    invoice_mark_paid(invoice=bad_invoice, payment=None, actor="t")
    account = BillingAccount.objects.get(team=bad)
    assert account.state == AccountState.ACTIVE and account.dunning_started_at is None
    assert dunning_advance(now=T0 + timedelta(days=30)) == {"retried": 0, "reminded": 0, "suspended": 0,
                                                            "archived": 0, "deleted": 0, "errors": 0, "expired": 0}


@time_machine.travel(T0, tick=False)
def test_external_engine_verdicts_drive_the_same_timeline(mailoutbox, django_capture_on_commit_callbacks) -> None:
    team = make_team("lagoco")
    subscription_checkout(team=team, plan=make_plan(trial_days=7), interval="month", actor="u")
    with django_capture_on_commit_callbacks(execute=True):
        engine_payment_failed(team=team, actor="lago", reason="card declined")
        engine_payment_failed(team=team, actor="lago", reason="card declined")
    failed = [m for m in mailoutbox if "payment failed" in m.subject.lower()]
    assert len(failed) == 2 and "A payment failed." in failed[0].body
    account = BillingAccount.objects.get(team=team)
    assert account.state == AccountState.PAST_DUE and account.dunning_started_at == T0
    engine_payment_succeeded(team=team, actor="lago", reference="inv_1")
    engine_payment_succeeded(team=team, actor="lago", reference="inv_1")
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    assert AuditEvent.objects.filter(target_id=str(account.pk), action="billing_account.active").count() == 1


@time_machine.travel(T0, tick=False)
def test_one_accounts_failure_is_recorded_and_the_run_goes_on(settings, monkeypatch, admin_client) -> None:
    """Issue 9, item 13: an error while advancing one account (here the instance service fails
    for its instance: fault injected) is audited and shown to the operator; the other accounts
    are processed in the same run, and the failed one is tried again on the next run."""
    from tenantry.instances import lifecycle
    from tenantry.instances.models import Instance
    from tenantry.runtime.placement import default_server

    settings.TENANTRY_BILLING = {"RETRY_DAYS": [], "SUSPEND_AFTER_DAYS": 4}
    broken_team, good_team = make_team("aaa-broken"), make_team("bbb-good")
    instances = {}
    for team in (broken_team, good_team):
        subscription = subscription_checkout(team=team, plan=make_plan(f"p-{team.slug}"), interval="month",
                                             actor="u")
        invoice_payment_failed(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="p")
        instances[team.slug] = Instance.objects.create(
            team=team, slug=team.slug, app="hello", server=default_server(), memory_mb=64, cpus=0.1, pids=64,
            status="running")
    asked: list[str] = []

    def flaky_suspend(*, instance, actor, reason=""):
        asked.append(instance.slug)
        if instance.slug == "aaa-broken" and asked.count("aaa-broken") == 1:
            raise RuntimeError("database connection lost")
        return None

    monkeypatch.setattr(lifecycle, "instance_suspend", flaky_suspend)
    counts = dunning_advance(now=T0 + timedelta(days=5))
    assert (counts["suspended"], counts["errors"]) == (1, 1)
    assert "bbb-good" in asked
    assert BillingAccount.objects.get(team=good_team).state == AccountState.SUSPENDED
    # The broken account's step was rolled back whole, recorded, and shown on the operator page.
    broken = BillingAccount.objects.get(team=broken_team)
    assert broken.state == AccountState.PAST_DUE
    error = AuditEvent.objects.get(action="billing_account.dunning_error", target_id=str(broken.pk))
    assert error.data["error"] == "RuntimeError" and error.data["message"] == "database connection lost"
    assert [e.pk for e in operator_billing_overview().attention] == [error.pk]
    page = admin_client.get("/operator/billing/").content.decode()
    assert 'data-action="billing_account.dunning_error"' in page and "database connection lost" in page
    # The next run tries it again (the fault is gone): suspended.
    assert dunning_advance(now=T0 + timedelta(days=5, minutes=15))["suspended"] == 1
    assert BillingAccount.objects.get(team=broken_team).state == AccountState.SUSPENDED
