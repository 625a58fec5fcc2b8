"""POST /webhooks/<provider>: signature first; replayed x3 -> one payment, one state change;
tampered, unsigned or stale -> 400 and nothing changes."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from tenantry.billing.models import Invoice, Payment, ProcessedWebhook
from tenantry.billing.providers.gateway import sign
from tenantry.billing.services.payments import payment_start
from tenantry.core.models import AuditEvent
from tests.billing.payments_helpers import GATEWAY_SECRET, STRIPE_WHSEC, team_with_invoice
from tests.billing.test_providers import checkout_session, stripe_event, stripe_signature

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.billing.payments_helpers"]


def _gateway_body(payment: Payment, *, status: str = "succeeded", amount: int | None = None,
                  event_id: str = "evt_gw_1") -> bytes:
    return json.dumps({"event_id": event_id, "type": f"payment.{status}", "payment": {
        "id": payment.provider_reference, "reference": str(payment.pk), "status": status,
        "amount": payment.amount_minor if amount is None else amount, "currency": payment.currency}}).encode()


def _post_gateway(client: Client, body: bytes, *, timestamp: int | None = None, secret: str = GATEWAY_SECRET,
                  signed_body: bytes | None = None):
    ts = int(time.time()) if timestamp is None else timestamp
    return client.post("/webhooks/gateway", data=body, content_type="application/json",
                       headers={"X-Gateway-Timestamp": str(ts),
                                "X-Gateway-Signature": sign(secret, ts, signed_body or body)})


def _changes(payment: Payment) -> int:
    return AuditEvent.objects.filter(target_id=str(payment.pk), action__in=[
        "payment.succeeded", "payment.failed", "payment.cancelled", "payment.processing"]).count()


def test_gateway_callback_replayed_three_times_changes_once(payment_providers) -> None:
    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t",
                            phone="+22507000009")
    client = Client()
    body = _gateway_body(payment)
    answers = [_post_gateway(client, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["applied"] for a in answers] == [True, False, False]
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert _changes(payment) == 1
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert ProcessedWebhook.objects.filter(source="gateway").count() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_gateway_callback_tampered_or_replayed_late_is_rejected(payment_providers, caplog) -> None:
    _, _, invoice = team_with_invoice()
    payment = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t",
                            phone="+22507000010")
    client = Client()
    good = _gateway_body(payment)
    attempts = {
        "amount changed after signing": _post_gateway(client, _gateway_body(payment, amount=1), signed_body=good),
        "signed with another secret": _post_gateway(client, good, secret="not-the-secret"),
        "replayed 10 minutes later": _post_gateway(client, good, timestamp=int(time.time()) - 600),
        "no signature": client.post("/webhooks/gateway", data=good, content_type="application/json"),
    }
    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 400)
    assert "webhook rejected" in caplog.text
    payment.refresh_from_db()
    assert payment.status == "pending" and _changes(payment) == 0
    assert ProcessedWebhook.objects.count() == 0
    assert Invoice.objects.get(pk=invoice.pk).status == "finalized"
    # Unknown providers and the manual one have no endpoint; GET is not allowed.
    assert client.post("/webhooks/manual", data=good, content_type="application/json").status_code == 404
    assert client.post("/webhooks/paypal", data=good, content_type="application/json").status_code == 404
    assert client.get("/webhooks/gateway").status_code == 405


def test_stripe_webhook_replayed_three_times_changes_once(payment_providers) -> None:
    _, _, invoice = team_with_invoice(currency="EUR", amount=1900)
    # A Checkout Session created earlier (its creation is covered in test_providers).
    payment = Payment.objects.create(team_id=invoice.team_id, invoice=invoice, provider="stripe", method="card",
                                     provider_reference="cs_test_a1b2", amount_minor=invoice.total_minor,
                                     currency="EUR")
    session = checkout_session(amount_total=invoice.total_minor, amount_subtotal=invoice.total_minor,
                               metadata={"tenantry_payment": str(payment.pk)}, client_reference_id=str(payment.pk))
    body = stripe_event("checkout.session.completed", session, "evt_1Stripe")
    client = Client()
    answers = [client.post("/webhooks/stripe", data=body, content_type="application/json",
                           headers={"Stripe-Signature": stripe_signature(body, STRIPE_WHSEC)}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    payment.refresh_from_db()
    assert payment.status == "succeeded" and _changes(payment) == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    # The PaymentIntent event of the same payment (found by metadata) arrives later: settled, no change.
    intent = {"id": "pi_3Ab", "object": "payment_intent", "amount": invoice.total_minor,
              "amount_received": invoice.total_minor, "currency": "eur", "status": "succeeded",
              "metadata": {"tenantry_payment": str(payment.pk)}, "last_payment_error": None}
    late = stripe_event("payment_intent.succeeded", intent, "evt_2Stripe")
    answer = client.post("/webhooks/stripe", data=late, content_type="application/json",
                         headers={"Stripe-Signature": stripe_signature(late, STRIPE_WHSEC)})
    assert answer.status_code == 200 and answer.json()["applied"] is False
    assert _changes(payment) == 1
    # Tampered: 400.
    forged = body.replace(b'"paid"', b'"unpaid"')
    assert client.post("/webhooks/stripe", data=forged, content_type="application/json",
                       headers={"Stripe-Signature": stripe_signature(body, STRIPE_WHSEC)}).status_code == 400
