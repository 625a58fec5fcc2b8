"""Stripe and manual providers. Stripe's servers are the boundary: webhooks are shaped as Stripe
sends them and signed with the real `Stripe-Signature` scheme (t=…,v1=HMAC-SHA256 of "t.payload");
API calls go to a stand-in on 127.0.0.1 that records what the SDK sent."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from tenantry.billing.providers.base import InvalidSignature, PaymentRequest, TransientBackendError
from tenantry.billing.providers.manual import ManualProvider
from tenantry.billing.providers.stripe import StripeProvider
from tests.http_stub import BackgroundServer, QuietHandler

WHSEC = "whsec_test_0123456789abcdef"


def stripe_signature(payload: bytes, secret: str = WHSEC, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str = "evt_1OqK2") -> bytes:
    return json.dumps({
        "id": event_id, "object": "event", "api_version": "2025-09-30.clover", "created": 1763700000,
        "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": event_type,
    }, indent=2).encode()


def checkout_session(payment_status: str = "paid", **extra: Any) -> dict[str, Any]:
    return {"id": "cs_test_a1b2", "object": "checkout.session", "amount_subtotal": 1900, "amount_total": 1900,
            "client_reference_id": "pay-42", "currency": "eur", "customer_email": "ann@example.com",
            "metadata": {"tenantry_payment": "pay-42"}, "mode": "payment", "payment_intent": "pi_3Ab",
            "payment_status": payment_status, "status": "complete", "url": None, **extra}


def payment_intent(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "pi_3Ab", "object": "payment_intent", "amount": 1900, "amount_received": 1900
            if status == "succeeded" else 0, "currency": "eur", "metadata": {"tenantry_payment": "pay-42"},
            "status": status, "last_payment_error": None, **extra}


@pytest.fixture
def provider() -> StripeProvider:
    return StripeProvider(alias="stripe", api_key="sk_test_x", webhook_secret=WHSEC)


def _parse(provider: StripeProvider, body: bytes, signature: str) -> Any:
    return provider.parse_callback(body, {"Stripe-Signature": signature}, dt.datetime.now(dt.UTC))


def test_stripe_events_map_to_payment_events(provider: StripeProvider) -> None:
    body = stripe_event("checkout.session.completed", checkout_session())
    event = _parse(provider, body, stripe_signature(body))
    assert (event.event_id, event.status, event.amount_minor, event.currency) == ("evt_1OqK2", "succeeded", 1900,
                                                                                   "EUR")
    assert (event.provider_reference, event.payment_reference) == ("cs_test_a1b2", "pay-42")
    assert event.occurred_at == dt.datetime.fromtimestamp(1763700000, tz=dt.UTC)
    # SEPA: the session completes before the money arrives.
    body = stripe_event("checkout.session.completed", checkout_session("unpaid"))
    assert _parse(provider, body, stripe_signature(body)).status == "processing"
    failed = payment_intent("requires_payment_method",
                            last_payment_error={"code": "card_declined", "message": "Your card was declined."})
    body = stripe_event("payment_intent.payment_failed", failed, "evt_2")
    event = _parse(provider, body, stripe_signature(body))
    assert (event.status, event.failure_message, event.payment_reference) == (
        "failed", "Your card was declined.", "pay-42")
    body = stripe_event("payment_intent.succeeded", payment_intent("succeeded"), "evt_3")
    assert _parse(provider, body, stripe_signature(body)).status == "succeeded"
    body = stripe_event("checkout.session.expired", checkout_session("unpaid", status="expired"), "evt_4")
    assert _parse(provider, body, stripe_signature(body)).status == "cancelled"
    # Authentic but irrelevant: nothing to do.
    body = stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_5")
    assert _parse(provider, body, stripe_signature(body)) is None


def test_stripe_rejects_tampered_and_replayed(provider: StripeProvider) -> None:
    body = stripe_event("checkout.session.completed", checkout_session())
    signature = stripe_signature(body)
    with pytest.raises(InvalidSignature):
        _parse(provider, body.replace(b"1900", b"1"), signature)
    with pytest.raises(InvalidSignature):
        _parse(provider, body, stripe_signature(body, secret="whsec_other"))
    with pytest.raises(InvalidSignature):
        _parse(provider, body, stripe_signature(body, timestamp=int(time.time()) - 301))
    with pytest.raises(InvalidSignature):
        _parse(provider, body, "garbage")
    with pytest.raises(InvalidSignature):
        provider.parse_callback(body, {}, dt.datetime.now(dt.UTC))
    # The header's scheme allows several v1 values (secret rotation): one good one suffices.
    good = stripe_signature(body)
    assert _parse(provider, body, good + ",v1=" + "0" * 64) is not None


class FakeStripeApi(BackgroundServer):
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, list[str]]]] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                outer.requests.append((self.path, dict(self.headers.items()), form))
                if self.path.startswith("/v1/checkout/sessions") and self.path.endswith("/expire"):
                    body = {**checkout_session("unpaid", status="expired")}
                elif self.path == "/v1/checkout/sessions":
                    body = {**checkout_session("unpaid", status="open"),
                            "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2"}
                else:
                    return self._answer(503, {"error": {"type": "api_error", "message": "down"}})
                self._answer(200, body)

        super().__init__(Handler)


@pytest.fixture
def stripe_api() -> Iterator[FakeStripeApi]:
    server = FakeStripeApi()
    yield server
    server.shutdown()
    server.server_close()


def test_stripe_checkout_session_creation(stripe_api: FakeStripeApi) -> None:
    provider = StripeProvider(api_key="sk_test_x", webhook_secret=WHSEC,
                              api_base=f"http://127.0.0.1:{stripe_api.server_address[1]}")
    request = PaymentRequest(reference="pay-42", amount_minor=1900, currency="EUR", description="Pro monthly",
                             customer_email="ann@example.com", return_url="http://127.0.0.1:8000/t/acme/billing")
    payment = provider.initiate(request, method="sepa")
    assert (payment.provider_reference, payment.status) == ("cs_test_a1b2", "pending")
    assert payment.redirect_url == "https://checkout.stripe.com/c/pay/cs_test_a1b2"
    path, headers, form = stripe_api.requests[0]
    assert path == "/v1/checkout/sessions"
    assert headers["Idempotency-Key"] == "tenantry-pay-42"
    assert headers["Authorization"] == "Bearer sk_test_x"
    assert form["line_items[0][price_data][unit_amount]"] == ["1900"]
    assert form["line_items[0][price_data][currency]"] == ["eur"]
    assert form["payment_method_types[0]"] == ["sepa_debit"]
    assert form["payment_intent_data[metadata][tenantry_payment]"] == ["pay-42"]
    # The card or mandate is saved on a customer so that dunning can charge a renewal off-session.
    assert form["payment_intent_data[setup_future_usage]"] == ["off_session"]
    assert form["customer_creation"] == ["always"]
    assert provider.cancel("cs_test_a1b2").status == "cancelled"
    assert "sk_test_x" not in repr(provider)
    with pytest.raises(TransientBackendError):
        StripeProvider(api_key="sk_test_x", mode="payment_intent",
                       api_base=f"http://127.0.0.1:{stripe_api.server_address[1]}").initiate(request, method="card")


def test_manual_instructions_use_the_invoice_number() -> None:
    provider = ManualProvider(account_holder="Tenantry SAS", iban="FR76 3000 6000 0112 3456 7890 189")
    payment = provider.initiate(PaymentRequest(reference="pay-9", amount_minor=500000, currency="XOF",
                                               description="Pro", metadata={"invoice_number": "INV-2026-0007"}),
                                method="bank_transfer")
    assert payment.status == "pending"
    assert "Reference: INV-2026-0007" in payment.instructions
    assert "500,000 XOF" in payment.instructions and "FR76 3000" in payment.instructions
    with pytest.raises(InvalidSignature):
        provider.parse_callback(b"{}", {}, dt.datetime.now(dt.UTC))
