"""The payment provider interface: what Tenantry asks of whoever moves the money.

Payments are asynchronous: `initiate` returns a pending (or processing) payment, and the final
state arrives later as a signed callback that `parse_callback` verifies and turns into a
`PaymentEvent`. Inputs and outputs are frozen dataclasses, never model instances; vendor SDK
calls stay inside the provider module. Providers raise only `BackendError` (permanent),
`TransientBackendError` (retry later) and `InvalidSignature` (tampered or replayed input).

Providers are configured like Django's STORAGES, in `TENANTRY_PAYMENT_PROVIDERS`:

    {"gateway": {"BACKEND": "tenantry.billing.providers.gateway.GatewayProvider",
                 "OPTIONS": {"base_url": "http://127.0.0.1:8090", "api_key": "…", "secret": "…"}}}
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tenantry.runtime.backends.base import BackendError, TransientBackendError

__all__ = [
    "BackendError",
    "InvalidSignature",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentRequest",
    "ProviderPayment",
    "TransientBackendError",
    "get_provider",
    "provider_names",
]

PENDING, PROCESSING, SUCCEEDED, FAILED, CANCELLED = "pending", "processing", "succeeded", "failed", "cancelled"
STATUSES = (PENDING, PROCESSING, SUCCEEDED, FAILED, CANCELLED)
FINAL_STATUSES = (SUCCEEDED, FAILED, CANCELLED)


class InvalidSignature(Exception):
    """The callback is not authentic (bad or missing signature) or is too old (replay)."""


@dataclass(frozen=True)
class PaymentRequest:
    reference: str  # our payment id: the idempotency key at the provider
    amount_minor: int
    currency: str
    description: str
    customer_email: str = ""
    phone: str = field(default="", repr=False)
    return_url: str = ""
    callback_url: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderPayment:
    provider_reference: str
    status: str
    redirect_url: str = ""
    instructions: str = ""
    # What the provider says it holds (checked against ours before a poll may settle anything).
    amount_minor: int | None = None
    currency: str = ""
    # provider-specific extras worth keeping on the payment (e.g. the test gateway's phone page)
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentEvent:
    """One authentic notification about a payment, already verified.

    `event_id` is unique per provider (the dedup key); `provider_reference` names the payment at
    the provider; amount/currency are what the provider says moved, checked against ours.
    """

    event_id: str
    provider_reference: str
    status: str
    amount_minor: int | None
    currency: str
    occurred_at: dt.datetime
    event_type: str = ""
    failure_message: str = ""
    # our payment id when the provider echoes it back (Stripe metadata): finds the payment when
    # the event names another object than the one we stored (PaymentIntent vs Checkout Session)
    payment_reference: str = ""
    # A failed attempt inside a payment the customer can still complete (a declined card on
    # Stripe's Checkout page, where they may try another card): recorded, the payment stays open.
    attempt_only: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


class PaymentProvider(abc.ABC):
    """One way to take money. `name` is the alias in settings, stored on each Payment."""

    #: the payment methods this provider offers ("card", "sepa", "mobile_money", "bank_transfer")
    methods: tuple[str, ...] = ()

    def __init__(self, *, alias: str = "default", **options: Any):
        self.alias = alias
        self.name = alias

    @abc.abstractmethod
    def initiate(self, request: PaymentRequest, *, method: str) -> ProviderPayment:
        """Start a payment. Idempotent on `request.reference`: a repeat returns the same payment."""

    @abc.abstractmethod
    def fetch(self, provider_reference: str) -> ProviderPayment:
        """The provider's current view of a payment (reconciliation when a callback is lost)."""

    def charge_again(self, request: PaymentRequest, *, method: str, previous_reference: str) -> ProviderPayment:
        """Charge `request` again the way an earlier payment (`previous_reference`) of the same
        customer was made, without the customer where the provider can (a card saved at that
        payment, charged off-session) or by asking them again (a new prompt to their phone).
        BackendError (`not_supported`, or the refusal, e.g. `card_declined`) when it cannot."""
        raise BackendError(f"{self.name} cannot charge a customer again", code="not_supported")

    def lookup(self, reference: str) -> ProviderPayment | None:
        """Find a payment by our reference when `initiate` never answered (a timeout): the
        provider's view of it, or None when the provider never received it."""
        raise BackendError(f"{self.name} cannot look payments up by reference", code="not_supported")

    @abc.abstractmethod
    def cancel(self, provider_reference: str) -> ProviderPayment:
        """Cancel a payment that is not settled yet; raise BackendError when it cannot be."""

    @abc.abstractmethod
    def parse_callback(self, body: bytes, headers: Mapping[str, str], now: dt.datetime) -> PaymentEvent | None:
        """Verify and decode a callback. Raise InvalidSignature for tampered or replayed input;
        return None for authentic events that say nothing about a payment's state."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup (Django's request.headers is, a plain dict is not)."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def get_provider(name: str) -> PaymentProvider:
    """The configured provider called `name` (raises ImproperlyConfigured when unknown)."""
    from tenantry.core.backends import load_backend

    provider: PaymentProvider = load_backend("TENANTRY_PAYMENT_PROVIDERS", name)
    return provider


def provider_names() -> list[str]:
    from django.conf import settings

    return list(getattr(settings, "TENANTRY_PAYMENT_PROVIDERS", {}))
