"""Dunning retries charge (issue 9, item 12): a card saved at Stripe Checkout is charged again
off-session (a PaymentIntent with the saved customer and payment method, `off_session=true,
confirm=true`); a Mobile Money customer gets a new prompt on the phone they paid with; the
reminder (real SMTP) says what happened and whether the customer must act.

Stripe's servers are the boundary: a stand-in of its HTTP API on 127.0.0.1 answers what Stripe
answers (including the 402 `card_error` of a declined off-session charge) and records what the
official SDK sent; the Mobile Money gateway is the real reference gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.gateway_reference.server import GatewayServer
from tenantry.billing.models import BillingAccount, Invoice, Payment, Subscription
from tenantry.billing.services import billing_run, dunning_advance, invoice_payment_failed
from tenantry.billing.services.payments import payment_refresh, payment_start
from tenantry.core.backends import reset_backends
from tests.billing.payments_helpers import GATEWAY_KEY, STRIPE_WHSEC, team_with_invoice
from tests.billing.test_providers import checkout_session, stripe_event, stripe_signature
from tests.conftest import Mailbox, wait_for
from tests.http_stub import BackgroundServer, QuietHandler

pytest_plugins = ["tests.billing.payments_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


class FakeStripe(BackgroundServer):
    """Stripe's API for the calls a retry makes. `decline` answers the next charge as Stripe
    answers a refused off-session charge (HTTP 402, card_error)."""

    def __init__(self) -> None:
        self.charges: list[tuple[dict[str, str], dict[str, list[str]]]] = []
        self.retrieved: list[str] = []
        self.decline = False
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                outer.retrieved.append(self.path)
                if url.path.startswith("/v1/checkout/sessions/") and "payment_intent" in parse_qs(url.query).get(
                        "expand[0]", []):
                    session_id = url.path.rsplit("/", 1)[1]
                    return self._answer(200, checkout_session(
                        id=session_id, customer="cus_saved_1", payment_intent={
                            "id": "pi_first", "object": "payment_intent", "customer": "cus_saved_1",
                            "payment_method": "pm_card_saved_1", "status": "succeeded",
                            "setup_future_usage": "off_session"}))
                return self._answer(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                                    "message": "No such object"}})

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if self.path != "/v1/payment_intents":
                    return self._answer(404, {"error": {"type": "invalid_request_error", "message": "no"}})
                outer.charges.append((dict(self.headers.items()), form))
                intent = {"id": f"pi_retry_{len(outer.charges)}", "object": "payment_intent",
                          "amount": int(form["amount"][0]), "currency": form["currency"][0],
                          "customer": form["customer"][0], "payment_method": form["payment_method"][0],
                          "metadata": {k[9:-1]: v[0] for k, v in form.items() if k.startswith("metadata[")}}
                if outer.decline:
                    return self._answer(402, {"error": {
                        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.", "payment_intent": {
                            **intent, "status": "requires_payment_method", "amount_received": 0}}})
                return self._answer(200, {**intent, "status": "succeeded", "amount_received": intent["amount"]})

        super().__init__(Handler)



@pytest.fixture
def stripe_api(settings, payment_providers) -> Iterator[FakeStripe]:
    server = FakeStripe()
    stripe = payment_providers["stripe"]
    settings.TENANTRY_PAYMENT_PROVIDERS = {**payment_providers, "stripe": {
        **stripe, "OPTIONS": {**stripe["OPTIONS"], "api_key": "sk_test_retry", "api_base": server.url}}}
    reset_backends()
    yield server
    server.shutdown()
    server.server_close()
    reset_backends()


def _renewal_fails(team: Team, subscription: Subscription) -> Invoice:
    """The subscription renews; the new invoice's payment fails: the account is past due."""
    assert billing_run(now=subscription.current_period_end + timedelta(minutes=1)).invoices == 1
    renewal = Invoice.objects.get(subscription=subscription, reason="renewal")
    invoice_payment_failed(invoice=renewal, payment=None, actor="provider:test")
    assert BillingAccount.objects.get(team=team).state == "past_due"
    return renewal


def _reminder(mailbox: Mailbox, team: Team) -> str:
    """The text of the reminder the team's billing contact received (real SMTP)."""
    from tenantry.billing.services.accounts import billing_recipients

    [address] = billing_recipients(BillingAccount.objects.get(team=team))
    message = wait_for(lambda: next((m for m in mailbox.to(address) if "Reminder" in m["Subject"]), None),
                       timeout=10, what="the reminder")
    return Mailbox.text(message)


def _first_retry() -> dict[str, int]:
    return dunning_advance(now=timezone.now() + timedelta(days=1, minutes=1))


def _paid_by_stripe_checkout(currency: str = "EUR", amount: int = 1900) -> tuple[Team, Subscription, Payment]:
    team, subscription, invoice = team_with_invoice(currency=currency, amount=amount)
    payment = Payment.objects.create(team_id=team.pk, invoice=invoice, provider="stripe", method="card",
                                     provider_reference=f"cs_test_{invoice.pk.hex[:10]}",
                                     amount_minor=invoice.total_minor, currency=currency)
    session = checkout_session(id=payment.provider_reference, amount_total=invoice.total_minor,
                               client_reference_id=str(payment.pk), metadata={"tenantry_payment": str(payment.pk)},
                               customer="cus_saved_1")
    body = stripe_event("checkout.session.completed", session, f"evt_{invoice.pk.hex[:10]}")
    answer = Client().post("/webhooks/stripe", data=body, content_type="application/json",
                           headers={"Stripe-Signature": stripe_signature(body, STRIPE_WHSEC)})
    assert answer.status_code == 200 and Invoice.objects.get(pk=invoice.pk).status == "paid"
    return team, Subscription.objects.get(pk=subscription.pk), payment


def test_the_card_saved_at_checkout_is_charged_off_session(stripe_api: FakeStripe, mailbox: Mailbox) -> None:
    team, subscription, first = _paid_by_stripe_checkout()
    renewal = _renewal_fails(team, subscription)
    counts = _first_retry()

    # What the SDK sent to Stripe: the saved customer and card, off-session, confirmed at once.
    assert stripe_api.retrieved == [f"/v1/checkout/sessions/{first.provider_reference}?expand%5B0%5D=payment_intent"]
    [(headers, form)] = stripe_api.charges
    retry = Payment.objects.get(invoice=renewal)
    assert headers["Idempotency-Key"] == f"tenantry-{retry.pk}"
    assert headers["Authorization"] == "Bearer sk_test_retry"
    assert {k: v[0] for k, v in form.items() if not k.startswith("metadata") and k != "description"} == {
        "amount": str(renewal.total_minor), "currency": "eur", "customer": "cus_saved_1",
        "payment_method": "pm_card_saved_1", "payment_method_types[0]": "card", "off_session": "true",
        "confirm": "true"}
    assert form["metadata[tenantry_payment]"] == [str(retry.pk)]
    assert form["metadata[tenantry_off_session]"] == ["1"]

    # The money was taken: the invoice is paid, dunning is over, nobody is asked to pay.
    assert (retry.status, retry.provider_reference, retry.metadata["retry_of"]) == ("succeeded", "pi_retry_1",
                                                                                   str(first.pk))
    assert Invoice.objects.get(pk=renewal.pk).status == "paid"
    account = BillingAccount.objects.get(team=team)
    assert account.state == "active" and account.dunning_retries == 0
    assert not [m for m in mailbox.messages if "Reminder" in m["Subject"]]
    assert (counts["retried"], counts.get("reminded")) == (1, 0)


def test_a_declined_off_session_charge_tells_the_customer_to_pay(stripe_api: FakeStripe, mailbox: Mailbox) -> None:
    team, subscription, _ = _paid_by_stripe_checkout()
    renewal = _renewal_fails(team, subscription)
    stripe_api.decline = True
    counts = _first_retry()
    assert len(stripe_api.charges) == 1
    retry = Payment.objects.get(invoice=renewal)
    assert (retry.status, retry.failure_message) == ("failed", "Your card has insufficient funds.")
    renewal.refresh_from_db()
    assert renewal.status == "finalized" and renewal.payment_failures == 2
    assert BillingAccount.objects.get(team=team).state == "past_due"
    text = _reminder(mailbox, team)
    assert "We tried to charge your saved card again; it was refused: Your card has insufficient funds." in text
    assert "We cannot take this payment without you" in text and f"/t/{team.slug}/billing/" in text
    assert (counts["retried"], counts.get("reminded")) == (1, 0)


def test_mobile_money_gets_a_new_prompt_on_the_customers_phone(payment_providers, reference_gateway: GatewayServer,
                                                               mailbox: Mailbox) -> None:
    team, subscription, invoice = team_with_invoice()
    first = payment_start(invoice=invoice, provider="gateway", method="mobile_money", actor="t",
                          phone="+225 07 00 00 02 01")
    requests.post(f"{reference_gateway.url}/v1/payments/{first.provider_reference}/confirm",
                  headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=5)
    assert payment_refresh(payment=first).status == "succeeded"
    subscription.refresh_from_db()
    renewal = _renewal_fails(team, subscription)

    counts = _first_retry()
    retry = Payment.objects.get(invoice=renewal)
    prompt = reference_gateway.ledger.by_reference(str(retry.pk))
    assert (prompt["phone"], prompt["amount"], prompt["currency"], prompt["status"]) == (
        "+2250700000201", renewal.total_minor, "XOF", "pending")
    assert retry.status == "pending" and retry.provider_reference == prompt["id"]
    text = _reminder(mailbox, team)
    assert "We sent a new payment request to your phone ending in 0201" in text
    assert (counts["retried"], counts.get("reminded")) == (1, 0)

    # The customer confirms the prompt: paid, dunning over.
    requests.post(f"{reference_gateway.url}/v1/payments/{prompt['id']}/confirm",
                  headers={"Authorization": f"Bearer {GATEWAY_KEY}"}, timeout=5)
    assert payment_refresh(payment=retry).status == "succeeded"
    assert Invoice.objects.get(pk=renewal.pk).status == "paid"
    assert BillingAccount.objects.get(team=team).state == "active"


def test_without_a_chargeable_method_the_reminder_says_the_customer_must_pay(payment_providers,
                                                                            mailbox: Mailbox) -> None:
    team, subscription, invoice = team_with_invoice(currency="EUR", amount=1900)
    from tenantry.billing.services.bank_transfers import payment_mark_paid_manually

    payment_mark_paid_manually(invoice=invoice, actor="operator:root", reference="VIR-1")
    subscription.refresh_from_db()
    renewal = _renewal_fails(team, subscription)
    counts = _first_retry()
    assert not Payment.objects.filter(invoice=renewal).exists()
    text = _reminder(mailbox, team)
    assert "We cannot charge it without you: please pay it from your dashboard:" in text
    assert (counts["retried"], counts.get("reminded")) == (0, 1)  # a reminder is not a retry
