"""Bank transfer: the customer gets our bank details with the invoice number as the reference;
an operator marks the invoice paid when the money is on the account (no callbacks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from tenantry.billing.providers.base import (
    CANCELLED,
    PENDING,
    BackendError,
    InvalidSignature,
    PaymentEvent,
    PaymentProvider,
    PaymentRequest,
    ProviderPayment,
)


def format_amount(amount_minor: int, currency: str) -> str:
    from decimal import Decimal

    # ISO 4217 exponents of the zero-decimal currencies we may see; everything else has 2.
    exponent = 0 if currency.upper() in {"XOF", "XAF", "JPY", "KRW", "CLP", "GNF", "RWF", "UGX", "VND"} else 2
    value = Decimal(amount_minor).scaleb(-exponent)
    return f"{value:,.{exponent}f} {currency.upper()}"


class ManualProvider(PaymentProvider):
    methods = ("bank_transfer",)

    def __init__(self, *, alias: str = "manual", account_holder: str = "", iban: str = "", bic: str = "",
                 bank_name: str = "", **options: Any):
        super().__init__(alias=alias)
        self.account_holder, self.iban, self.bic, self.bank_name = account_holder, iban, bic, bank_name

    def initiate(self, request: PaymentRequest, *, method: str) -> ProviderPayment:
        if method != "bank_transfer":
            raise BackendError(f"manual payments are bank transfers, not {method!r}", code="unsupported_method")
        # The customer's bank reference is the invoice number (metadata), else our payment id.
        reference = request.metadata.get("invoice_number") or request.reference
        lines = [_("Please transfer %(amount)s to:") % {"amount": format_amount(request.amount_minor,
                                                                                 request.currency)}]
        for label, value in ((_("Account holder"), self.account_holder), (_("Bank"), self.bank_name),
                             (_("IBAN"), self.iban), (_("BIC"), self.bic)):
            if value:
                lines.append(f"{label}: {value}")
        lines.append(_("Reference: %(reference)s") % {"reference": reference})
        return ProviderPayment(provider_reference=f"manual-{request.reference}", status=PENDING,
                               instructions="\n".join(lines))

    def fetch(self, provider_reference: str) -> ProviderPayment:
        # Nothing to ask: the state lives in our database, changed by the operator.
        return ProviderPayment(provider_reference=provider_reference, status=PENDING)

    def cancel(self, provider_reference: str) -> ProviderPayment:
        return ProviderPayment(provider_reference=provider_reference, status=CANCELLED)

    def parse_callback(self, body: bytes, headers: Mapping[str, str], now: dt.datetime) -> PaymentEvent | None:
        raise InvalidSignature("bank transfers have no callbacks")
