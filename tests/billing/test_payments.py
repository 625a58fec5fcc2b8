"""Payment services: start, cancel, apply provider events, mark paid by hand."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from tenantry.billing.models import BillingAccount, Invoice, Payment, ProcessedWebhook, Subscription
from tenantry.billing.providers.base import PaymentEvent
from tenantry.billing.services.bank_transfers import payment_mark_paid_manually
from tenantry.billing.services.payments import (
    payment_apply_event,
    payment_cancel,
    payment_refresh,
    payment_start,
)
from tenantry.core.errors import Conflict, ValidationError
from tenantry.core.models import AuditEvent
from tests.billing.payments_helpers import team_with_invoice
from tests.conftest import wait_for

pytest_plugins = ["tests.billing.payments_helpers"]


def _event(payment: Payment, event_id: str = "evt_1", status: str = "succeeded", **overrides: object) -> PaymentEvent:
    fields: dict = {"event_id": event_id, "provider_reference": payment.provider_reference, "status": status,
                    "amount_minor": payment.amount_minor, "currency": payment.currency,
                    "occurred_at": dt.datetime.now(dt.UTC), **overrides}
    return PaymentEvent(**fields)


def _audits(payment: Payment, action: str) -> int:
    return AuditEvent.objects.filter(target_id=str(payment.pk), action=action).count()


@pytest.mark.django_db(transaction=True)
def test_mobile_money_roundtrip_through_the_reference_gateway(live_server, settings, payment_providers,
                                                              reference_gateway) -> None:
    """initiate -> pending with instructions -> the customer confirms on the phone page -> the
    gateway's signed callback reaches /webhooks/gateway -> payment succeeded, invoice paid."""
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": live_server.url}
    _, subscription, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="user:a@x",
                            phone="+225 07 00 00 01")
    assert payment.status == "pending" and payment.provider_reference.startswith("mm_")
    assert "5,000 XOF" in payment.instructions
    # A double submit is the same payment.
    again = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="user:a@x",
                          phone="+22507000001")
    assert again.pk == payment.pk
    phone_url = payment.metadata["phone_url"]
    token = phone_url.split("token=")[1]
    answer = requests.post(f"{reference_gateway.url}/v1/payments/{payment.provider_reference}/confirm",
                           data={"token": token}, timeout=5)
    assert answer.status_code == 200
    wait_for(lambda: Payment.objects.get(pk=payment.pk).status == "succeeded", timeout=10, what="payment paid")
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at is not None
    assert Subscription.objects.get(pk=subscription.pk).status == "active"
    assert ProcessedWebhook.objects.filter(source="gateway").count() == 1
    assert _audits(payment, "payment.succeeded") == 1


@pytest.mark.django_db
def test_event_replays_unknown_settled_and_wrong_amounts_change_nothing(payment_providers) -> None:
    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t", phone="+22507000000")
    # Wrong currency, wrong or negative amount: refused, payment still pending, invoice unpaid.
    for index, bad in enumerate([{"currency": "EUR"}, {"amount_minor": 4999}, {"amount_minor": -5000},
                                 {"amount_minor": None}]):
        assert payment_apply_event(provider="gateway", event=_event(payment, f"bad{index}", **bad)) is None
    payment.refresh_from_db()
    assert payment.status == "pending"
    assert _audits(payment, "payment.event_ignored") == 4
    # Unknown payment, or the right reference at another provider: nothing.
    assert payment_apply_event(provider="gateway", event=_event(payment, "x1", provider_reference="mm_ffff")) is None
    assert payment_apply_event(provider="stripe", event=_event(payment, "x2")) is None
    # The good event three times: one state change.
    results = [payment_apply_event(provider="gateway", event=_event(payment, "evt_ok")) for _ in range(3)]
    assert results[0] is not None and results[1] is None and results[2] is None
    assert _audits(payment, "payment.succeeded") == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    # Settled: a later "failed" (new event id) changes nothing.
    assert payment_apply_event(provider="gateway", event=_event(payment, "evt_late", status="failed")) is None
    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.settled_at is not None


@pytest.mark.django_db
def test_failed_payment_starts_dunning(payment_providers) -> None:
    team, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t", phone="+22507000001")
    result = payment_apply_event(provider="gateway", event=_event(payment, "evt_fail", status="failed",
                                                                  failure_message="declined"))
    assert result is not None and result.status == "failed" and result.failure_message == "declined"
    invoice.refresh_from_db()
    assert invoice.status == "finalized" and invoice.payment_failures == 1
    assert BillingAccount.objects.get(team=team).state == "past_due"
    # The invoice can be paid again with a new payment.
    retry = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t", phone="+22507000001")
    assert retry.pk != payment.pk and retry.status == "pending"


@pytest.mark.django_db
def test_cancel_pending_and_refusals(payment_providers, reference_gateway) -> None:
    _, _, invoice = team_with_invoice()
    with pytest.raises(ValidationError):
        payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t")
    with pytest.raises(ValidationError):
        payment_start(invoice=invoice, provider="gateway", method="card", actor="t", phone="+22507000001")
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t", phone="+22507000002")
    with pytest.raises(Conflict):
        payment_start(invoice=invoice, provider="manual", method="bank_transfer", actor="t")
    cancelled = payment_cancel(payment=payment, actor="user:a@x")
    assert cancelled.status == "cancelled"
    # The gateway agrees: the money can no longer move.
    headers = {"Authorization": "Bearer test-gateway-key"}
    remote = requests.get(f"{reference_gateway.url}/v1/payments/{payment.provider_reference}", headers=headers,
                          timeout=5).json()
    assert remote["status"] == "cancelled"
    with pytest.raises(Conflict):
        payment_cancel(payment=cancelled, actor="user:a@x")
    # Now a bank transfer is possible.
    transfer = payment_start(invoice=invoice, provider="manual", method="bank_transfer", actor="t")
    assert invoice.display_number in transfer.instructions


@pytest.mark.django_db
def test_refresh_applies_the_gateway_state_when_the_callback_is_lost(payment_providers, reference_gateway) -> None:
    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t", phone="+22507000003")
    # Confirmed at the gateway, but the callback URL (the default dashboard URL) is not listening.
    requests.post(f"{reference_gateway.url}/v1/payments/{payment.provider_reference}/confirm",
                  headers={"Authorization": "Bearer test-gateway-key"}, timeout=5)
    refreshed = payment_refresh(payment=payment)
    assert refreshed.status == "succeeded"
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert payment_refresh(payment=refreshed).status == "succeeded"
    assert _audits(payment, "payment.succeeded") == 1


@pytest.mark.django_db
def test_mark_paid_manually_is_idempotent(payment_providers) -> None:
    _, _, invoice = team_with_invoice(currency="EUR", amount=1900)
    transfer = payment_start(invoice=invoice, provider="manual", method="bank_transfer", actor="t")
    paid = payment_mark_paid_manually(invoice=invoice, actor="operator:root", reference="VIR-2026-11-21-001")
    assert paid.pk == transfer.pk and paid.status == "succeeded"
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    repeat = payment_mark_paid_manually(invoice=invoice, actor="operator:root", reference="VIR-2026-11-21-001")
    assert repeat.pk == paid.pk
    with pytest.raises(Conflict):
        payment_mark_paid_manually(invoice=invoice, actor="operator:root", reference="VIR-OTHER")
    assert Payment.objects.filter(invoice=invoice).count() == 1
    with pytest.raises(Conflict):  # paid: nothing more to start
        payment_start(invoice=invoice, provider="manual", method="bank_transfer", actor="t")


@pytest.mark.django_db
def test_money_received_for_a_voided_invoice_is_kept_and_flagged(payment_providers) -> None:
    from tenantry.billing.services import invoice_void

    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t", phone="+22507000004")
    invoice_void(invoice=invoice, actor="operator:root", reason="duplicate")
    applied = payment_apply_event(provider="gateway", event=_event(payment, "evt_after_void"))
    assert applied is not None and applied.status == "succeeded"
    assert Invoice.objects.get(pk=invoice.pk).status == "void"
    assert _audits(payment, "payment.invoice_not_updated") == 1


@pytest.mark.django_db
def test_reconcile_settles_lost_callbacks_and_abandons_old_pending(payment_providers, reference_gateway) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from tenantry.billing.services.payments import payments_reconcile

    _, _, paid_invoice = team_with_invoice()
    _, _, idle_invoice = team_with_invoice()
    paid = payment_start(invoice=paid_invoice, provider="gateway", method="mobile_money", actor="t",
                         phone="+22507000005")
    idle = payment_start(invoice=idle_invoice, provider="gateway", method="mobile_money", actor="t",
                         phone="+22507000006")
    requests.post(f"{reference_gateway.url}/v1/payments/{paid.provider_reference}/confirm",
                  headers={"Authorization": "Bearer test-gateway-key"}, timeout=5)
    # Too fresh: left alone.
    assert payments_reconcile()["checked"] == 0
    later = timezone.now() + timedelta(hours=25)
    assert payments_reconcile(now=later) == {"checked": 2, "settled": 1, "abandoned": 1}
    assert Payment.objects.get(pk=paid.pk).status == "succeeded"
    assert Invoice.objects.get(pk=paid_invoice.pk).status == "paid"
    assert Payment.objects.get(pk=idle.pk).status == "cancelled"
    assert Invoice.objects.get(pk=idle_invoice.pk).status == "finalized"
