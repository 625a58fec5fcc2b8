"""Stripe (cards, SEPA Direct Debit) through the official SDK.

Checkout Sessions by default (Stripe hosts the payment page; SEPA and 3-D Secure work without
our own JavaScript), or bare PaymentIntents (`mode="payment_intent"`) for a custom front end.
Our payment id is the idempotency key of every create call and travels in the metadata, so a
retried request never charges twice and every webhook finds its payment. Webhooks are verified
with `stripe.Webhook.construct_event` (endpoint secret + timestamp tolerance). The secret key
and the endpoint secret come from settings and are never logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import stripe

from tenantry.billing.providers.base import (
    CANCELLED,
    FAILED,
    PENDING,
    PROCESSING,
    SUCCEEDED,
    BackendError,
    InvalidSignature,
    PaymentEvent,
    PaymentProvider,
    PaymentRequest,
    ProviderPayment,
    TransientBackendError,
    header,
)

logger = logging.getLogger(__name__)

# Stripe event type -> our status. checkout.session.completed is special: a SEPA debit
# completes the session while the money is still on its way (payment_status "unpaid").
EVENT_STATUS = {
    "checkout.session.async_payment_succeeded": SUCCEEDED,
    "checkout.session.async_payment_failed": FAILED,
    "checkout.session.expired": CANCELLED,
    "payment_intent.succeeded": SUCCEEDED,
    "payment_intent.processing": PROCESSING,
    "payment_intent.payment_failed": FAILED,
    "payment_intent.canceled": CANCELLED,
}
_METHOD_TYPES = {"card": ["card"], "sepa": ["sepa_debit"]}
METADATA_KEY = "tenantry_payment"
OFF_SESSION_KEY = "tenantry_off_session"


class StripeProvider(PaymentProvider):
    methods = ("card", "sepa")

    def __init__(self, *, alias: str = "stripe", api_key: str = "", webhook_secret: str = "",
                 tolerance: int = stripe.Webhook.DEFAULT_TOLERANCE, mode: str = "checkout",
                 api_base: str = "", **options: Any):
        super().__init__(alias=alias)
        if mode not in ("checkout", "payment_intent"):
            raise ValueError(f"StripeProvider mode must be checkout or payment_intent, not {mode!r}")
        self._webhook_secret = webhook_secret
        self.tolerance = tolerance
        self.mode = mode
        # api_base points the SDK at a local stand-in of Stripe's API in tests.
        self._client = stripe.StripeClient(
            api_key or "sk_unset", base_addresses={"api": api_base} if api_base else {}, max_network_retries=2)

    def __repr__(self) -> str:  # never the keys
        return f"<StripeProvider {self.alias} mode={self.mode}>"

    # --- outbound ---------------------------------------------------------------------------

    def initiate(self, request: PaymentRequest, *, method: str) -> ProviderPayment:
        if method not in _METHOD_TYPES:
            raise BackendError(f"Stripe does not take {method!r} payments here", code="unsupported_method")
        metadata = {**request.metadata, METADATA_KEY: request.reference}
        options: dict[str, Any] = {"idempotency_key": f"tenantry-{request.reference}"}
        with _translated_errors():
            if self.mode == "payment_intent":
                params: dict[str, Any] = {
                    "amount": request.amount_minor, "currency": request.currency.lower(),
                    "payment_method_types": _METHOD_TYPES[method], "description": request.description,
                    "metadata": metadata}
                if request.customer_email:
                    params["receipt_email"] = request.customer_email
                intent = self._client.v1.payment_intents.create(params=params, options=options)  # type: ignore[arg-type]
                return _intent_payment(intent, client_secret=intent.client_secret or "")
            session = self._client.v1.checkout.sessions.create(params={
                "mode": "payment",
                "line_items": [{"quantity": 1, "price_data": {
                    "currency": request.currency.lower(), "unit_amount": request.amount_minor,
                    "product_data": {"name": request.description}}}],
                "payment_method_types": _METHOD_TYPES[method],
                "success_url": request.return_url, "cancel_url": request.return_url,
                "client_reference_id": request.reference,
                # The card (or SEPA mandate) is kept on a Stripe customer so that dunning can charge
                # a renewal again without the customer (off-session), as Stripe's docs describe.
                "customer_creation": "always",
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata, "setup_future_usage": "off_session"},
                **({"customer_email": request.customer_email} if request.customer_email else {}),
            }, options=options)  # type: ignore[arg-type]
        return ProviderPayment(provider_reference=session.id, status=PENDING, redirect_url=session.url or "")

    def fetch(self, provider_reference: str) -> ProviderPayment:
        with _translated_errors():
            if provider_reference.startswith("pi_"):
                return _intent_payment(self._client.v1.payment_intents.retrieve(provider_reference))
            session = self._client.v1.checkout.sessions.retrieve(provider_reference)
        return ProviderPayment(provider_reference=session.id, redirect_url=session.url or "",
                               status=_session_status(session.status, session.payment_status),
                               amount_minor=session.amount_total, currency=(session.currency or "").upper())

    def charge_again(self, request: PaymentRequest, *, method: str, previous_reference: str) -> ProviderPayment:
        """Charge the card (or SEPA mandate) saved at an earlier Checkout payment, off-session:
        a PaymentIntent with the saved customer and payment method, `off_session=True,
        confirm=True` (Stripe's way to charge a customer who is not there). A decline, or a bank
        asking the customer to authenticate, is a BackendError with Stripe's code and message."""
        if method not in _METHOD_TYPES:
            raise BackendError(f"Stripe does not take {method!r} payments here", code="unsupported_method")
        customer, payment_method = self._saved_method(previous_reference)
        metadata = {**request.metadata, METADATA_KEY: request.reference, OFF_SESSION_KEY: "1"}
        params: dict[str, Any] = {
            "amount": request.amount_minor, "currency": request.currency.lower(), "customer": customer,
            "payment_method": payment_method, "payment_method_types": _METHOD_TYPES[method],
            "off_session": True, "confirm": True, "description": request.description, "metadata": metadata}
        with _translated_errors():  # other SDK errors: transient or refused, as everywhere
            try:
                intent = self._client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": f"tenantry-{request.reference}"})  # type: ignore[arg-type]
            except stripe.CardError as exc:
                # The bank's own words for the customer ("Your card has insufficient funds.").
                error = exc.error
                message = (error.message if error is not None and error.message else "") or "The card was declined."
                logger.info("stripe off-session charge declined", extra={"code": exc.code})
                raise BackendError(message, code=str(exc.code or "card_declined")) from None
        return _intent_payment(intent)

    def _saved_method(self, previous_reference: str) -> tuple[str, str]:
        """The customer and payment method an earlier payment saved (Checkout Session or PaymentIntent)."""
        with _translated_errors():
            if previous_reference.startswith("cs_"):
                session = self._client.v1.checkout.sessions.retrieve(
                    previous_reference, params={"expand": ["payment_intent"]})
                intent: Any = session.payment_intent
                customer = session.customer
            else:
                intent = self._client.v1.payment_intents.retrieve(previous_reference)
                customer = intent.customer
        payment_method = getattr(intent, "payment_method", None) if intent is not None else None
        customer_id = customer if isinstance(customer, str) else getattr(customer, "id", None)
        method_id = payment_method if isinstance(payment_method, str) else getattr(payment_method, "id", None)
        if not customer_id or not method_id:
            raise BackendError("no payment method was saved with this payment", code="no_saved_method")
        return str(customer_id), str(method_id)

    def lookup(self, reference: str) -> ProviderPayment | None:
        # Our payment id travels in every PaymentIntent's metadata. A Checkout Session creates its
        # PaymentIntent only when the customer pays; a session whose URL we never received cannot be.
        if not all(c.isalnum() or c == "-" for c in reference):
            raise BackendError("invalid payment reference", code="invalid_reference")
        with _translated_errors():
            found = self._client.v1.payment_intents.search(
                params={"query": f"metadata['{METADATA_KEY}']:'{reference}'", "limit": 1})
        return _intent_payment(found.data[0]) if found.data else None

    def cancel(self, provider_reference: str) -> ProviderPayment:
        with _translated_errors():
            if provider_reference.startswith("pi_"):
                intent = self._client.v1.payment_intents.cancel(provider_reference)
                return ProviderPayment(provider_reference=intent.id, status=_intent_status(intent.status))
            session = self._client.v1.checkout.sessions.expire(provider_reference)
        return ProviderPayment(provider_reference=session.id,
                               status=_session_status(session.status, session.payment_status))

    # --- inbound ----------------------------------------------------------------------------

    def parse_callback(self, body: bytes, headers: Mapping[str, str], now: dt.datetime) -> PaymentEvent | None:
        if not self._webhook_secret:
            raise InvalidSignature("no Stripe webhook secret is configured")
        signature = header(headers, "Stripe-Signature")
        if not signature:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            stripe.Webhook.construct_event(body, signature, self._webhook_secret, tolerance=self.tolerance)
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(str(exc).split(":")[0]) from None
        except ValueError as exc:  # authentic header but a body that is not JSON cannot happen: treat as forged
            raise InvalidSignature(f"unreadable payload: {exc.__class__.__name__}") from None
        # The SDK object proved the payload authentic; map the plain JSON (stable, typed by us).
        return event_from_payload(json.loads(body))


def event_from_payload(payload: Mapping[str, Any]) -> PaymentEvent | None:
    """Map one (verified) Stripe event to a PaymentEvent; None for types that we do not follow."""
    event_type = str(payload.get("type", ""))
    obj: Mapping[str, Any] = payload.get("data", {}).get("object", {}) or {}
    if event_type == "checkout.session.completed":
        status = SUCCEEDED if obj.get("payment_status") in ("paid", "no_payment_required") else PROCESSING
    elif event_type in EVENT_STATUS:
        status = EVENT_STATUS[event_type]
    else:
        return None
    is_session = event_type.startswith("checkout.session.")
    if is_session:
        amount = obj.get("amount_total")
    else:
        amount = obj.get("amount_received") if status == SUCCEEDED else obj.get("amount")
    error = obj.get("last_payment_error") or {}
    metadata = obj.get("metadata") or {}
    reference = metadata.get(METADATA_KEY) or (obj.get("client_reference_id") if is_session else "") or ""
    # A declined attempt leaves the PaymentIntent waiting for another payment method: on the
    # Checkout page the customer simply tries another card. Only the session's completion or
    # expiry ends the payment. A charge we made off-session has nobody to try again: final.
    attempt_only = event_type == "payment_intent.payment_failed" and metadata.get(OFF_SESSION_KEY) != "1"
    return PaymentEvent(
        event_id=str(payload["id"]), event_type=event_type, provider_reference=str(obj.get("id", "")),
        payment_reference=str(reference), status=status, amount_minor=_int_or_none(amount),
        currency=str(obj.get("currency") or "").upper(),
        occurred_at=dt.datetime.fromtimestamp(int(payload.get("created", 0)), tz=dt.UTC),
        failure_message=str(error.get("message", "")) if status == FAILED else "", attempt_only=attempt_only,
        raw=payload)


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


def _intent_payment(intent: Any, **details: str) -> ProviderPayment:
    status = _intent_status(intent.status)
    amount = intent.amount_received if status == SUCCEEDED else intent.amount
    return ProviderPayment(provider_reference=intent.id, status=status, amount_minor=amount,
                           currency=(intent.currency or "").upper(), details=details)


def _intent_status(status: str | None) -> str:
    return {"succeeded": SUCCEEDED, "processing": PROCESSING, "canceled": CANCELLED}.get(status or "", PENDING)


def _session_status(status: str | None, payment_status: str | None) -> str:
    if status == "expired":
        return CANCELLED
    if status == "complete":
        return SUCCEEDED if payment_status in ("paid", "no_payment_required") else PROCESSING
    return PENDING


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """SDK errors -> our two backend errors; the message never contains the key."""
    try:
        yield
    except stripe.StripeError as exc:
        name = exc.__class__.__name__
        logger.warning("stripe call failed", extra={"error": name, "http_status": exc.http_status})
        if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (exc.http_status or 0) >= 500:
            raise TransientBackendError(f"Stripe is unavailable ({name})") from None
        code = getattr(exc, "code", None) or "stripe_error"
        raise BackendError(f"Stripe refused the request ({name}: {code})", code=str(code)) from None
