"""Payments: start one for an invoice, cancel it, apply what the provider reports (bank transfers an
 operator marks paid: bank_transfers.py).

A payment moves pending -> processing -> succeeded | failed | cancelled and never back; once
settled nothing changes it. Provider events are applied at most once (ProcessedWebhook row in the
same transaction), only to a payment of that provider, and only when amount and currency are the
ones we asked for. Paying the invoice (and what follows: resume, provisioning) is the invoice
services' job; this module only tells them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenantry.billing.events import emit_payment_settled
from tenantry.billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus, ProcessedWebhook
from tenantry.billing.providers.base import (
    FINAL_STATUSES,
    BackendError,
    PaymentEvent,
    PaymentRequest,
    ProviderPayment,
    TransientBackendError,
    get_provider,
)
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError, Conflict, ServiceUnavailable, ValidationError

logger = logging.getLogger(__name__)

OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
# The audit action operators look for: money received twice for one invoice (credit or refund it).
OVERPAYMENT_ACTION = "payment.overpayment"
AMOUNT_MISMATCH = "amount or currency mismatch"
# Money reported for a payment we had already closed as failed or cancelled: refund or apply it.
LATE_SUCCESS_ACTION = "payment.succeeded_after_close"
# How long a start without an answer may still be on its way to the provider.
UNKNOWN_OUTCOME_GRACE = timedelta(minutes=2)
_RANK: dict[str, int] = {PaymentStatus.PENDING: 0, PaymentStatus.PROCESSING: 1}


class PaymentError(ApplicationError):
    code = "payment_error"
    status = 422


def callback_url(provider: str) -> str:
    return f"{settings.TENANTRY['DASHBOARD_URL'].rstrip('/')}/webhooks/{provider}"


def payable_invoice(invoice: Invoice) -> Invoice:
    invoice = Invoice.objects.select_for_update().select_related("account", "team").get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.FINALIZED or invoice.amount_due_minor <= 0:
        raise Conflict("This invoice has nothing to pay.", code="invoice_not_payable",
                       details={"status": invoice.status})
    return invoice


def payment_start(*, invoice: Invoice, provider: str, method: str, actor: str, phone: str | None = None,
                  return_url: str = "") -> Payment:
    """Start paying a finalized invoice with `provider`/`method`.

    The row is written first (its id is the provider's idempotency key), the provider is called
    outside any transaction (a slow gateway must not hold database locks), then its answer is
    stored. A double submit returns the payment already in progress.
    """
    try:
        backend = get_provider(provider)
    except Exception:
        raise ValidationError("This payment provider is not available.", code="unknown_provider",
                              details={"provider": provider}) from None
    if method not in backend.methods:
        raise ValidationError("This payment method is not available with this provider.",
                              code="unsupported_method", details={"method": method, "provider": provider})
    phone = (phone or "").strip().replace(" ", "")
    if method == Payment.Method.MOBILE_MONEY and not phone:
        raise ValidationError("A phone number is required for Mobile Money.", code="phone_required",
                              details={"field": "phone"})
    with transaction.atomic():
        invoice = payable_invoice(invoice)
        current = Payment.objects.filter(invoice=invoice, status__in=OPEN_STATUSES).first()
        if current is not None:
            if current.provider == provider and current.method == method:
                if not current.provider_reference and current.provider != "manual":
                    payment = current  # its start had no answer: ask the provider again (idempotent)
                else:
                    return current
            else:
                raise Conflict("A payment for this invoice is already in progress; cancel it first.",
                               code="payment_in_progress", details={"payment": str(current.pk)})
        else:
            metadata = {"invoice_number": invoice.display_number, **({"phone": phone} if phone else {})}
            payment = Payment.objects.create(team_id=invoice.team_id, invoice=invoice, provider=provider,
                                             method=method, amount_minor=invoice.amount_due_minor,
                                             currency=invoice.currency, metadata=metadata)
            audit_log(actor=actor, action="payment.start", target=payment,
                      data={"invoice": invoice.display_number, "provider": provider, "method": method,
                            "amount_minor": payment.amount_minor, "currency": payment.currency})
    request = PaymentRequest(
        reference=str(payment.pk), amount_minor=payment.amount_minor, currency=payment.currency,
        description=f"{invoice.display_number}", customer_email=invoice.account.billing_email, phone=phone,
        return_url=return_url, callback_url=callback_url(provider),
        metadata={"invoice_number": invoice.display_number, "team": str(invoice.team_id)})
    try:
        answer = backend.initiate(request, method=method)
    except TransientBackendError as exc:
        # Unknown outcome: the request may have reached the provider (a timeout after it sent the
        # prompt to the customer's phone). The payment stays pending, so the customer's
        # confirmation is still accepted; reconciliation asks the provider what became of it.
        mark_outcome_unknown(payment, actor=actor, message=exc.message)
        raise ServiceUnavailable("The payment provider did not answer in time; the payment stays pending while "
                                 "we check with it.", code="provider_unavailable",
                                 details={"payment": str(payment.pk)}) from None
    except BackendError as exc:
        # A refusal is an answer: nothing was started at the provider.
        settle_payment(payment, PaymentStatus.FAILED, actor=actor, failure_message=exc.message)
        raise PaymentError("The payment provider refused the payment.", code="provider_refused",
                           details={"provider_code": exc.code}) from None
    return store_provider_answer(payment, answer)


def mark_outcome_unknown(payment: Payment, *, actor: str, message: str) -> None:
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        payment.metadata = {**payment.metadata, "outcome_unknown": True}
        payment.save(update_fields=["metadata", "updated_at"])
        audit_log(actor=actor, action="payment.outcome_unknown", target=payment, data={"message": message[:200]})


def store_provider_answer(payment: Payment, answer: ProviderPayment) -> Payment:
    """Keep what the provider said about a payment it accepted (its id, where the customer goes)."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        payment.provider_reference = answer.provider_reference
        payment.redirect_url, payment.instructions = answer.redirect_url, answer.instructions
        metadata = {**payment.metadata, **answer.details}
        metadata.pop("outcome_unknown", None)
        payment.metadata = metadata
        if answer.status == PaymentStatus.PROCESSING and payment.status == PaymentStatus.PENDING:
            payment.status = PaymentStatus.PROCESSING
        payment.save()
    return payment


def settle_payment(payment: Payment, status: str, *, actor: str, failure_message: str = "") -> Payment:
    """Close an open payment ourselves (cancelled, refused at the start); the invoice is not told."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status in FINAL_STATUSES:
            return payment
        payment.status, payment.failure_message = status, failure_message[:1000]
        payment.settled_at = timezone.now()
        payment.save(update_fields=["status", "failure_message", "settled_at", "updated_at"])
        audit_log(actor=actor, action=f"payment.{status}", target=payment, data={"message": failure_message[:200]})
        emit_payment_settled(payment)
    return payment


def payment_cancel(*, payment: Payment, actor: str) -> Payment:
    """Cancel a pending payment (at the provider first: money in flight is never abandoned)."""
    if payment.status != PaymentStatus.PENDING:
        raise Conflict("Only a pending payment can be cancelled.", code="payment_not_pending",
                       details={"status": payment.status})
    if not payment.provider_reference and payment.metadata.get("outcome_unknown"):
        # Its start never answered: the provider may hold it (and the customer confirm it), so it
        # is found and cancelled there first.
        payment = payment_refresh(payment=payment)
        if payment.status != PaymentStatus.PENDING or payment.metadata.get("outcome_unknown"):
            if payment.status == PaymentStatus.CANCELLED:
                return payment
            raise Conflict("The payment provider could not be asked about this payment yet; try again.",
                           code="payment_not_cancellable", details={"status": payment.status})
    if payment.provider_reference:
        try:
            answer = get_provider(payment.provider).cancel(payment.provider_reference)
        except TransientBackendError:
            raise ServiceUnavailable("The payment provider is unavailable; please try again.",
                                     code="provider_unavailable") from None
        except BackendError as exc:
            raise Conflict("The payment provider could not cancel this payment.", code="payment_not_cancellable",
                           details={"provider_code": exc.code}) from None
        if answer.status != PaymentStatus.CANCELLED:
            raise Conflict("The payment provider could not cancel this payment.", code="payment_not_cancellable",
                           details={"provider_status": answer.status})
    return settle_payment(payment, PaymentStatus.CANCELLED, actor=actor)


def _find(provider: str, event: PaymentEvent) -> Payment | None:
    payments = Payment.objects.select_for_update().filter(provider=provider)
    if event.provider_reference:
        found = payments.filter(provider_reference=event.provider_reference).first()
        if found is not None:
            return found
    if event.payment_reference:
        try:
            return payments.filter(pk=uuid.UUID(event.payment_reference)).first()
        except ValueError:
            return None
    return None


def _reject(provider: str, event: PaymentEvent, reason: str, payment: Payment | None) -> None:
    logger.warning("payment event ignored", extra={"provider": provider, "event_id": event.event_id,
                                                   "reason": reason, "event_status": event.status})
    if payment is not None:
        audit_log(actor=f"{provider}-webhook", action="payment.event_ignored", target=payment,
                  data={"event_id": event.event_id, "reason": reason, "event_status": event.status,
                        "amount_minor": event.amount_minor, "currency": event.currency})


@transaction.atomic
def payment_apply_event(*, provider: str, event: PaymentEvent) -> Payment | None:
    """Apply one verified provider event; None when it changes nothing (seen, unknown, settled, refused)."""
    try:
        with transaction.atomic():
            ProcessedWebhook.objects.create(source=provider, event_id=event.event_id, event_type=event.event_type)
    except IntegrityError:
        logger.info("payment event already processed", extra={"provider": provider, "event_id": event.event_id})
        return None
    payment = _find(provider, event)
    if payment is None:
        _reject(provider, event, "unknown payment", None)
        return None
    if payment.status in FINAL_STATUSES:
        _reject(provider, event, f"payment already {payment.status}", payment)
        if event.status == PaymentStatus.SUCCEEDED and payment.status != PaymentStatus.SUCCEEDED:
            # The provider took money for a payment we closed: an operator applies or refunds it.
            logger.warning("money received for a closed payment", extra={"payment": str(payment.pk)})
            audit_log(actor=f"{provider}-webhook", action=LATE_SUCCESS_ACTION, target=payment,
                      data={"event_id": event.event_id, "was": payment.status, "amount_minor": event.amount_minor,
                            "currency": event.currency, "to_do": "apply or refund"})
        return None
    if event.status == PaymentStatus.SUCCEEDED and (
            event.currency != payment.currency or event.amount_minor is None
            or event.amount_minor != payment.amount_minor):
        # Wrong, negative or missing amounts never pay an invoice; an operator looks at the audit row.
        _reject(provider, event, AMOUNT_MISMATCH, payment)
        return None
    actor = f"{provider}-webhook"
    if event.status == PaymentStatus.FAILED and event.attempt_only:
        return _record_failed_attempt(payment, event, actor)
    if event.status not in FINAL_STATUSES:
        if _RANK.get(event.status, -1) <= _RANK.get(payment.status, 0):
            return None
        payment.status = event.status
        payment.save(update_fields=["status", "updated_at"])
        audit_log(actor=actor, action=f"payment.{event.status}", target=payment,
                  data={"event_id": event.event_id})
        return payment
    status, message = event.status, event.failure_message
    if status == PaymentStatus.CANCELLED and payment.metadata.get("failed_attempts"):
        # The session expired after declined attempts: the customer tried and could not pay.
        status, message = PaymentStatus.FAILED, payment.failure_message
    payment.status = status
    payment.failure_message = message[:1000]
    payment.settled_at = timezone.now()
    payment.save(update_fields=["status", "failure_message", "settled_at", "updated_at"])
    audit_log(actor=actor, action=f"payment.{status}", target=payment,
              data={"event_id": event.event_id, "amount_minor": event.amount_minor, "currency": event.currency})
    emit_payment_settled(payment)
    tell_invoice(payment, actor)
    return payment


def _record_failed_attempt(payment: Payment, event: PaymentEvent, actor: str) -> Payment:
    """A declined attempt the customer can follow with another one in the same payment: keep the
    payment open (its later success must still pay the invoice); the attempt is on record."""
    attempts = int(payment.metadata.get("failed_attempts", 0)) + 1
    payment.metadata = {**payment.metadata, "failed_attempts": attempts}
    payment.failure_message = event.failure_message[:1000]
    payment.save(update_fields=["metadata", "failure_message", "updated_at"])
    audit_log(actor=actor, action="payment.attempt_failed", target=payment,
              data={"event_id": event.event_id, "attempt": attempts, "message": event.failure_message[:200]})
    return payment


def tell_invoice(payment: Payment, actor: str) -> None:
    from tenantry.billing import services

    if payment.invoice_id is None:
        return
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    if payment.status == PaymentStatus.SUCCEEDED and invoice.status == InvoiceStatus.PAID:
        _flag_overpayment(payment, invoice, actor)
        return
    try:
        with transaction.atomic():
            if payment.status == PaymentStatus.SUCCEEDED:
                services.invoice_mark_paid(invoice=invoice, payment=payment, actor=actor)
            elif payment.status == PaymentStatus.FAILED:
                services.invoice_payment_failed(invoice=invoice, payment=payment, actor=actor)
    except ApplicationError as exc:
        # The money moved (or did not) whatever the invoice's state: keep the payment's truth and
        # leave the invoice to an operator (e.g. paid after it was voided: refund or credit).
        logger.warning("invoice not updated after payment", extra={"payment": str(payment.pk), "code": exc.code})
        audit_log(actor=actor, action="payment.invoice_not_updated", target=payment,
                  data={"invoice": invoice.display_number, "code": exc.code, "message": exc.message[:200]})


def _flag_overpayment(payment: Payment, invoice: Invoice, actor: str) -> None:
    """Money arrived for an invoice another payment already settled: the customer paid twice.
    Nothing is recorded as paid twice; an operator credits or refunds it (operator billing page)."""
    payment.metadata = {**payment.metadata, "overpayment": True}
    payment.save(update_fields=["metadata", "updated_at"])
    logger.warning("overpayment", extra={"payment": str(payment.pk), "invoice": invoice.display_number})
    audit_log(actor=actor, action=OVERPAYMENT_ACTION, target=payment,
              data={"invoice": invoice.display_number, "team": str(payment.team_id),
                    "amount_minor": payment.amount_minor, "currency": payment.currency,
                    "to_do": "credit or refund"})


def payment_refresh(*, payment: Payment, now: datetime | None = None) -> Payment:
    """Ask the provider for the state of an open payment (when a callback may have been lost) and
    apply it like a callback: the same amount and currency checks, and the synthetic event id
    makes repeated polls harmless."""
    if payment.status not in OPEN_STATUSES or payment.provider == "manual":
        return payment
    backend = get_provider(payment.provider)
    try:
        if not payment.provider_reference:
            return _resolve_unknown_start(payment, backend.lookup(str(payment.pk)), now or timezone.now())
        answer = backend.fetch(payment.provider_reference)
    except BackendError:
        return payment
    if answer.status == payment.status:
        return payment
    apply_provider_view(payment, answer)
    return Payment.objects.get(pk=payment.pk)


def apply_provider_view(payment: Payment, answer: ProviderPayment) -> Payment | None:
    """Apply what the provider answered about a payment (a poll or our own call) as an event."""
    event = PaymentEvent(event_id=f"poll:{answer.provider_reference}:{answer.status}",
                         provider_reference=answer.provider_reference, payment_reference=str(payment.pk),
                         status=answer.status, amount_minor=answer.amount_minor,
                         currency=answer.currency.upper(), occurred_at=timezone.now(), event_type="poll")
    return payment_apply_event(provider=payment.provider, event=event)


def _resolve_unknown_start(payment: Payment, answer: ProviderPayment | None, now: datetime) -> Payment:
    """A start whose answer never came: the provider has it (keep it, apply its state) or never
    received it (nothing can be paid with it: cancelled, so the invoice can be paid again). "Never"
    only once the request cannot still be on its way (UNKNOWN_OUTCOME_GRACE after the start)."""
    if answer is None:
        if payment.created_at > now - UNKNOWN_OUTCOME_GRACE:
            return payment
        return settle_payment(payment, PaymentStatus.CANCELLED, actor="billing:reconcile",
                              failure_message="The payment never reached the provider.")
    payment = store_provider_answer(payment, answer)
    if answer.status != payment.status:
        apply_provider_view(payment, answer)
    return Payment.objects.get(pk=payment.pk)


def payments_reconcile(*, now: datetime | None = None, stale_after: timedelta = timedelta(minutes=2),
                       abandon_after: timedelta = timedelta(hours=24)) -> dict[str, int]:
    """Safety net for lost callbacks and unanswered starts (periodic): ask the provider about open
    payments that have waited `stale_after`; cancel those still pending after `abandon_after` so
    the invoice can be paid another way. Bank transfers wait for the operator and are left alone."""
    now = now or timezone.now()
    counts = {"checked": 0, "settled": 0, "abandoned": 0}
    stale = (Payment.objects.filter(status__in=OPEN_STATUSES, created_at__lte=now - stale_after)
             .exclude(provider="manual").order_by("created_at")[:200])
    for payment in stale:
        counts["checked"] += 1
        refreshed = payment_refresh(payment=payment, now=now)
        if refreshed.status in FINAL_STATUSES:
            counts["settled"] += 1
        elif (refreshed.status == PaymentStatus.PENDING and refreshed.provider_reference
              and refreshed.created_at <= now - abandon_after):
            try:
                payment_cancel(payment=refreshed, actor="billing:reconcile")
                counts["abandoned"] += 1
            except ApplicationError as exc:
                logger.info("stale payment not cancelled", extra={"payment": str(payment.pk), "code": exc.code})
    return counts
