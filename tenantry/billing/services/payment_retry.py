"""Dunning's retries: charge an unpaid invoice again the way the customer paid before.

A card saved at a Stripe Checkout (`setup_future_usage=off_session`) is charged off-session,
without the customer; a Mobile Money customer gets a new prompt on the phone they paid with
and must confirm it; anyone else (bank transfer, nothing paid yet) has to act themselves. The
outcome says which, so that the reminder tells the customer the truth.

The provider is called outside any transaction (as in payment_start); the payment row is
written first, its id being the provider's idempotency key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from tenantry.billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from tenantry.billing.providers.base import BackendError, PaymentRequest, TransientBackendError, get_provider
from tenantry.billing.services.payments import (
    OPEN_STATUSES,
    apply_provider_view,
    callback_url,
    mark_outcome_unknown,
    settle_payment,
    store_provider_answer,
)
from tenantry.core.audit import audit_log

logger = logging.getLogger(__name__)
_NOTHING_TO_CHARGE = ("no_saved_method", "not_supported", "unsupported_method")


class RetryOutcome:
    """What a retry did, in the words the reminder uses."""

    CHARGED = "charged"  # the money was taken: nothing for the customer to do
    PROCESSING = "processing"  # taken, on its way (SEPA)
    DECLINED = "declined"  # the saved card was refused: the customer must pay another way
    PROMPTED = "prompted"  # a new Mobile Money prompt: the customer must confirm it on the phone
    IN_PROGRESS = "in_progress"  # a payment of the invoice is already under way
    CUSTOMER_MUST_PAY = "customer_must_pay"  # nothing can be charged without the customer
    UNAVAILABLE = "unavailable"  # the provider did not answer: reconciliation will ask it
    NOTHING_DUE = "nothing_due"  # paid or voided meanwhile


@dataclass(frozen=True)
class Retry:
    outcome: str
    payment: Payment | None = None
    message: str = ""

    @property
    def attempted(self) -> bool:
        """True when a provider was asked to take the money (what dunning counts as a retry)."""
        return self.outcome in (RetryOutcome.CHARGED, RetryOutcome.PROCESSING, RetryOutcome.DECLINED,
                                RetryOutcome.PROMPTED, RetryOutcome.UNAVAILABLE)


def _chargeable_source(invoice: Invoice) -> Payment | None:
    """The team's payment we can repeat without asking how: a Stripe payment that succeeded (its
    card or mandate was saved), else the latest Mobile Money payment (its phone)."""
    payments = Payment.objects.filter(team_id=invoice.team_id).exclude(provider_reference="").order_by("-created_at")
    card = payments.filter(provider="stripe", status=PaymentStatus.SUCCEEDED).first()
    if card is not None:
        return card
    return payments.filter(provider="gateway", method=Payment.Method.MOBILE_MONEY,
                           metadata__has_key="phone").first()


def payment_retry(*, invoice: Invoice, actor: str) -> Retry:
    """Charge `invoice` again without the customer where possible (see the module docstring)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(of=("self",)).select_related("account").get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.FINALIZED or invoice.amount_due_minor <= 0:
            return Retry(RetryOutcome.NOTHING_DUE)
        current = Payment.objects.filter(invoice=invoice, status__in=OPEN_STATUSES).first()
        if current is not None:
            return Retry(RetryOutcome.IN_PROGRESS, current)
        source = _chargeable_source(invoice)
        if source is None:
            return Retry(RetryOutcome.CUSTOMER_MUST_PAY)
        try:
            backend = get_provider(source.provider)
        except Exception:  # the provider was removed from the settings since
            logger.warning("retry provider not configured", extra={"provider": source.provider})
            return Retry(RetryOutcome.CUSTOMER_MUST_PAY)
        phone = str(source.metadata.get("phone", ""))
        payment = Payment.objects.create(
            team_id=invoice.team_id, invoice=invoice, provider=source.provider, method=source.method,
            amount_minor=invoice.amount_due_minor, currency=invoice.currency,
            metadata={"invoice_number": invoice.display_number, "retry_of": str(source.pk),
                      **({"phone": phone} if phone else {})})
        audit_log(actor=actor, action="payment.retry", target=payment,
                  data={"invoice": invoice.display_number, "provider": source.provider, "method": source.method,
                        "retry_of": str(source.pk), "amount_minor": payment.amount_minor})
    request = PaymentRequest(
        reference=str(payment.pk), amount_minor=payment.amount_minor, currency=payment.currency,
        description=invoice.display_number, customer_email=invoice.account.billing_email, phone=phone,
        callback_url=callback_url(payment.provider),
        metadata={"invoice_number": invoice.display_number, "team": str(invoice.team_id)})
    try:
        answer = backend.charge_again(request, method=payment.method, previous_reference=source.provider_reference)
    except TransientBackendError as exc:
        mark_outcome_unknown(payment, actor=actor, message=exc.message)
        return Retry(RetryOutcome.UNAVAILABLE, payment, exc.message)
    except BackendError as exc:
        if exc.code in _NOTHING_TO_CHARGE:  # no card was saved after all: the customer has to pay
            settle_payment(payment, PaymentStatus.CANCELLED, actor=actor, failure_message=exc.message)
            return Retry(RetryOutcome.CUSTOMER_MUST_PAY)
        # Refused (declined, authentication needed): an attempt that failed. The invoice stays
        # unpaid and dunning goes on; the reminder gives the bank's reason.
        payment = settle_payment(payment, PaymentStatus.FAILED, actor=actor, failure_message=exc.message)
        Invoice.objects.filter(pk=invoice.pk).update(payment_failures=F("payment_failures") + 1)
        return Retry(RetryOutcome.DECLINED, payment, exc.message)
    payment = store_provider_answer(payment, answer)
    if answer.status in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        apply_provider_view(payment, answer)  # same checks as a callback: amount, currency, once
        payment = Payment.objects.get(pk=payment.pk)
    if payment.status == PaymentStatus.SUCCEEDED:
        return Retry(RetryOutcome.CHARGED, payment)
    if payment.status == PaymentStatus.FAILED:
        return Retry(RetryOutcome.DECLINED, payment, payment.failure_message)
    if payment.status == PaymentStatus.PROCESSING:
        return Retry(RetryOutcome.PROCESSING, payment)
    if payment.method == Payment.Method.MOBILE_MONEY:
        return Retry(RetryOutcome.PROMPTED, payment)
    # A card charge that waits for the customer (their bank wants them to authenticate) cannot
    # complete while they are away: withdrawn, and they pay from the dashboard.
    message = "Your bank asks you to confirm this payment yourself."
    try:
        backend.cancel(payment.provider_reference)
    except BackendError:
        logger.warning("off-session charge left open", extra={"payment": str(payment.pk)})
        return Retry(RetryOutcome.DECLINED, payment, message)
    return Retry(RetryOutcome.DECLINED, settle_payment(payment, PaymentStatus.CANCELLED, actor=actor,
                                                        failure_message=message), message)
