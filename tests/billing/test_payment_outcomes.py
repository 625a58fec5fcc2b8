"""When is a payment over? A declined card on Stripe's Checkout page is one attempt, not the
payment's end (issue 9, item 9); a gateway start that timed out has an unknown outcome, not a
failure, and polling checks amounts like callbacks do; a second success on a paid invoice is
flagged as an overpayment (item 10).

Stripe's servers are the boundary (webhooks signed with the real `Stripe-Signature` scheme);
the Mobile Money gateway is the real reference gateway over 127.0.0.1, with a real HTTP proxy in
front of it that holds the answer of a create call past the provider's timeout (the gateway has
received it; the caller never hears back)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from tenantry.billing.gateway_reference.server import GatewayServer
from tenantry.billing.models import BillingAccount, Invoice, Payment, Subscription
from tenantry.billing.selectors import operator_billing_overview
from tenantry.billing.services.bank_transfers import payment_mark_paid_manually
from tenantry.billing.services.payments import (
    payment_refresh,
    payment_start,
    payments_reconcile,
)
from tenantry.core.backends import reset_backends
from tenantry.core.errors import ServiceUnavailable
from tenantry.core.models import AuditEvent
from tests.billing.payments_helpers import GATEWAY_KEY, STRIPE_WHSEC, team_with_invoice
from tests.billing.test_providers import checkout_session, stripe_event, stripe_signature
from tests.conftest import wait_for
from tests.http_stub import BackgroundServer, QuietHandler

pytest_plugins = ["tests.billing.payments_helpers"]


def _audits(payment: Payment, action: str) -> int:
    return AuditEvent.objects.filter(target_id=str(payment.pk), action=action).count()


# --- item 9: a declined card inside a Checkout Session -------------------------------------------

def _stripe_post(client: Client, event_type: str, obj: dict, event_id: str):
    body = stripe_event(event_type, obj, event_id)
    return client.post("/webhooks/stripe", data=body, content_type="application/json",
                       headers={"Stripe-Signature": stripe_signature(body, STRIPE_WHSEC)})


def _checkout_payment(invoice: Invoice) -> Payment:
    # A Checkout Session created earlier (its creation is covered in test_providers).
    return Payment.objects.create(team_id=invoice.team_id, invoice=invoice, provider="stripe", method="card",
                                  provider_reference=f"cs_test_{invoice.pk.hex[:8]}", amount_minor=invoice.total_minor,
                                  currency="EUR")


def _declined_intent(payment: Payment) -> dict:
    return {"id": f"pi_{payment.pk.hex[:8]}", "object": "payment_intent", "amount": payment.amount_minor,
            "amount_received": 0, "currency": "eur", "status": "requires_payment_method",
            "metadata": {"tenantry_payment": str(payment.pk)},
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                                   "message": "Your card has insufficient funds."}}


@pytest.mark.django_db
def test_a_declined_card_then_a_good_one_in_the_same_checkout_pays_the_invoice(payment_providers) -> None:
    team, subscription, invoice = team_with_invoice(currency="EUR", amount=1900)
    payment = _checkout_payment(invoice)
    client = Client()
    answer = _stripe_post(client, "payment_intent.payment_failed", _declined_intent(payment), "evt_decline_1")
    assert answer.status_code == 200
    payment.refresh_from_db()
    # One failed attempt on record; the payment (the session) is still open, nothing is chased.
    assert payment.status == "pending", payment.status
    assert payment.metadata["failed_attempts"] == 1
    assert payment.failure_message == "Your card has insufficient funds."
    assert _audits(payment, "payment.attempt_failed") == 1
    invoice.refresh_from_db()
    assert invoice.status == "finalized" and invoice.payment_failures == 0
    assert BillingAccount.objects.get(team=team).state == "active"

    # The customer tries another card on the same page: the session completes, paid.
    session = checkout_session(id=payment.provider_reference, amount_total=invoice.total_minor,
                               amount_subtotal=invoice.total_minor, client_reference_id=str(payment.pk),
                               metadata={"tenantry_payment": str(payment.pk)})
    answer = _stripe_post(client, "checkout.session.completed", session, "evt_complete_1")
    assert answer.status_code == 200 and answer.json()["applied"] is True
    payment.refresh_from_db()
    assert payment.status == "succeeded" and payment.settled_at is not None
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert Subscription.objects.get(pk=subscription.pk).status == "active"


@pytest.mark.django_db
def test_a_checkout_that_expires_after_declines_is_a_failed_payment(payment_providers) -> None:
    team, _, invoice = team_with_invoice(currency="EUR", amount=1900)
    payment = _checkout_payment(invoice)
    client = Client()
    _stripe_post(client, "payment_intent.payment_failed", _declined_intent(payment), "evt_decline_2")
    _stripe_post(client, "payment_intent.payment_failed", _declined_intent(payment), "evt_decline_3")
    assert Payment.objects.get(pk=payment.pk).metadata["failed_attempts"] == 2
    expired = checkout_session("unpaid", id=payment.provider_reference, status="expired",
                               amount_total=invoice.total_minor, client_reference_id=str(payment.pk),
                               metadata={"tenantry_payment": str(payment.pk)})
    assert _stripe_post(client, "checkout.session.expired", expired, "evt_expired_1").json()["applied"] is True
    payment.refresh_from_db()
    # The customer tried and could not pay: a failure (dunning starts), with the card's reason.
    assert payment.status == "failed"
    assert payment.failure_message == "Your card has insufficient funds."
    assert Invoice.objects.get(pk=invoice.pk).payment_failures == 1
    assert BillingAccount.objects.get(team=team).state == "past_due"


# --- item 10: the gateway's start times out ------------------------------------------------------

class HoldingProxy(BackgroundServer):
    """Forwards to the gateway; for `hold_creates` create calls it forwards the request, then
    holds the answer longer than the caller waits (the gateway got it, the caller never knows).
    `drop_creates` create calls are not forwarded at all (the request never arrived)."""

    def __init__(self, upstream: str, hold_seconds: float = 2.0) -> None:
        self.upstream, self.hold_seconds = upstream, hold_seconds
        self.hold_creates = self.drop_creates = 0
        outer = self

        class Handler(QuietHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                creating = self.command == "POST" and self.path == "/v1/payments"
                if creating and outer.drop_creates:
                    outer.drop_creates -= 1
                    time.sleep(outer.hold_seconds)
                    return  # nothing forwarded; the connection is closed unanswered
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                upstream = requests.request(self.command, outer.upstream + self.path, data=body, headers=headers,
                                            timeout=10)
                if creating and outer.hold_creates:
                    outer.hold_creates -= 1
                    time.sleep(outer.hold_seconds)
                try:
                    self.send_response(upstream.status_code)
                    self.send_header("Content-Type", upstream.headers.get("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(upstream.content)))
                    self.end_headers()
                    self.wfile.write(upstream.content)
                except OSError:
                    pass  # the caller gave up waiting

            do_GET = do_POST = _forward

        super().__init__(Handler)



@pytest.fixture
def slow_gateway(settings, payment_providers, reference_gateway: GatewayServer) -> Iterator[HoldingProxy]:
    proxy = HoldingProxy(reference_gateway.url)
    gateway = payment_providers["gateway"]
    settings.TENANTRY_PAYMENT_PROVIDERS = {**payment_providers, "gateway": {
        **gateway, "OPTIONS": {**gateway["OPTIONS"], "base_url": proxy.url, "timeout": 0.5}}}
    reset_backends()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    reset_backends()


def _start_timing_out(invoice: Invoice, proxy: HoldingProxy, phone: str) -> Payment:
    proxy.hold_creates += 1
    with pytest.raises(ServiceUnavailable) as excinfo:
        payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="user:a@x", phone=phone)
    assert excinfo.value.code == "provider_unavailable"
    payment = Payment.objects.get(invoice=invoice)
    # Not failed: the gateway may have sent the prompt. Pending, outcome unknown, on record.
    assert payment.status == "pending" and payment.provider_reference == ""
    assert payment.metadata["outcome_unknown"] is True
    assert _audits(payment, "payment.outcome_unknown") == 1
    return payment


def _confirm_on_phone(gateway: GatewayServer, payment: Payment) -> None:
    row = gateway.ledger.by_reference(str(payment.pk))
    answer = requests.post(f"{gateway.url}/v1/payments/{row['id']}/confirm", data={"token": row["phone_token"]},
                           timeout=5)
    assert answer.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_timed_out_start_still_takes_the_customers_confirmation(live_server, settings, slow_gateway,
                                                                  reference_gateway) -> None:
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": live_server.url}  # callbacks reach us
    _, subscription, invoice = team_with_invoice()
    payment = _start_timing_out(invoice, slow_gateway, "+22507000101")
    # The prompt did reach the phone; the customer confirms, the gateway calls back.
    _confirm_on_phone(reference_gateway, payment)
    wait_for(lambda: Payment.objects.get(pk=payment.pk).status == "succeeded", timeout=10,
             what="the confirmed payment to be applied")
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert Subscription.objects.get(pk=subscription.pk).status == "active"


@pytest.mark.django_db
def test_reconciliation_asks_the_gateway_about_unanswered_starts(slow_gateway, reference_gateway) -> None:
    _, _, received_invoice = team_with_invoice()
    _, _, lost_invoice = team_with_invoice()
    received = _start_timing_out(received_invoice, slow_gateway, "+22507000102")
    slow_gateway.drop_creates += 1
    with pytest.raises(ServiceUnavailable):
        payment_start(invoice=lost_invoice, provider="gateway", method="mobile_money", actor="t",
                      phone="+22507000103")
    lost = Payment.objects.get(invoice=lost_invoice)
    assert lost.status == "pending" and lost.metadata["outcome_unknown"] is True
    # Asked at once (the customer's page polls), "not found" may still mean "on its way": kept.
    assert payment_refresh(payment=lost).status == "pending"

    later = timezone.now() + timedelta(minutes=3)
    assert payments_reconcile(now=later) == {"checked": 2, "settled": 1, "abandoned": 0}
    received.refresh_from_db()
    # The gateway has it: its id and instructions are kept, still waiting for the customer.
    assert received.status == "pending" and received.provider_reference.startswith("mm_")
    assert "outcome_unknown" not in received.metadata and "on your phone" in received.instructions
    # The gateway never heard of the other: nothing can pay it, so it no longer blocks the invoice.
    lost.refresh_from_db()
    assert lost.status == "cancelled"
    again = payment_start(invoice=lost_invoice, provider="gateway", method="mobile_money", actor="t",
                          phone="+22507000103")
    assert again.pk != lost.pk and again.status == "pending" and again.provider_reference

    # The customer confirms; the callback is lost (nobody listens); the next pass settles it.
    _confirm_on_phone(reference_gateway, received)
    assert payments_reconcile(now=later)["settled"] == 1
    assert Payment.objects.get(pk=received.pk).status == "succeeded"
    assert Invoice.objects.get(pk=received_invoice.pk).status == "paid"


@pytest.mark.django_db
def test_polling_checks_amount_and_currency_like_a_callback(payment_providers, reference_gateway) -> None:
    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t",
                            phone="+22507000104")
    # The gateway settles a smaller amount than we asked for (a gateway bug, or a tampered ledger).
    reference_gateway.ledger._db.execute("UPDATE payments SET amount = 50 WHERE id = ?",
                                         (payment.provider_reference,))
    requests.post(f"{reference_gateway.url}/v1/payments/{payment.provider_reference}/confirm",
                  headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=5)
    refreshed = payment_refresh(payment=payment)
    assert refreshed.status == "pending"
    assert Invoice.objects.get(pk=invoice.pk).status == "finalized"
    ignored = AuditEvent.objects.get(target_id=str(payment.pk), action="payment.event_ignored")
    assert ignored.data["reason"] == "amount or currency mismatch" and ignored.data["amount_minor"] == 50
    assert [e.pk for e in operator_billing_overview().attention] == [ignored.pk]


@pytest.mark.django_db
def test_a_second_success_on_a_paid_invoice_is_flagged_as_an_overpayment(payment_providers, reference_gateway,
                                                                        admin_client) -> None:
    _, _, invoice = team_with_invoice()
    mobile = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t",
                           phone="+22507000105")
    # Meanwhile the customer also paid by bank transfer, recorded by the operator.
    payment_mark_paid_manually(invoice=invoice, actor="operator:root", reference="VIR-2026-12-02-7")
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    # ... and confirms the Mobile Money prompt too: the money moved twice.
    requests.post(f"{reference_gateway.url}/v1/payments/{mobile.provider_reference}/confirm",
                  headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=5)
    assert payment_refresh(payment=mobile).status == "succeeded"
    mobile.refresh_from_db()
    assert mobile.metadata["overpayment"] is True
    flag = AuditEvent.objects.get(target_id=str(mobile.pk), action="payment.overpayment")
    assert flag.data == {"invoice": invoice.display_number, "team": str(invoice.team_id), "amount_minor": 5000,
                         "currency": "XOF", "to_do": "credit or refund"}
    assert [e.pk for e in operator_billing_overview().attention] == [flag.pk]
    page = admin_client.get("/operator/billing/")
    assert page.status_code == 200
    assert 'data-action="payment.overpayment"' in page.content.decode()
    assert invoice.display_number in page.content.decode()


@pytest.mark.django_db
def test_money_reported_for_a_payment_we_closed_is_flagged(payment_providers) -> None:
    import datetime as dt

    from tenantry.billing.providers.base import PaymentEvent
    from tenantry.billing.services.payments import payment_apply_event

    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t",
                            phone="+22507000106")
    # Closed on our side (cancelled here; the same holds for a start that "never arrived").
    Payment.objects.filter(pk=payment.pk).update(status="cancelled")
    event = PaymentEvent(event_id="evt_late_1", provider_reference=payment.provider_reference, status="succeeded",
                         amount_minor=payment.amount_minor, currency=payment.currency,
                         occurred_at=dt.datetime.now(dt.UTC))
    assert payment_apply_event(provider="gateway", event=event) is None
    assert Payment.objects.get(pk=payment.pk).status == "cancelled"  # a settled payment never changes
    flag = AuditEvent.objects.get(target_id=str(payment.pk), action="payment.succeeded_after_close")
    assert flag.data["to_do"] == "apply or refund" and flag.data["was"] == "cancelled"
    assert flag.pk in [e.pk for e in operator_billing_overview().attention]
