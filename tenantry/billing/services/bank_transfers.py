"""Bank transfers: the operator saw the money arrive and marks the invoice paid (the `manual`
provider never calls back). Settles through the same invoice path as provider payments."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from tenantry.billing.events import emit_payment_settled
from tenantry.billing.models import Invoice, Payment, PaymentStatus
from tenantry.billing.services.payments import OPEN_STATUSES, payable_invoice, tell_invoice
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, ValidationError


@transaction.atomic
def payment_mark_paid_manually(*, invoice: Invoice, actor: str, reference: str) -> Payment:
    """The operator saw the bank transfer: record it and pay the invoice. The same bank reference
    twice is the same payment."""
    reference = reference.strip()
    if not reference:
        raise ValidationError("The bank reference of the transfer is required.", details={"field": "reference"})
    existing = Payment.objects.filter(provider="manual", provider_reference=reference).first()
    if existing is not None:
        if existing.invoice_id != invoice.pk:
            raise Conflict("This bank reference was already used for another invoice.", code="reference_reused")
        return existing
    invoice = payable_invoice(invoice)
    payment = Payment.objects.filter(invoice=invoice, provider="manual", status__in=OPEN_STATUSES).first()
    fields: dict[str, Any] = {"provider_reference": reference, "status": PaymentStatus.SUCCEEDED,
                              "settled_at": timezone.now()}
    if payment is None:
        payment = Payment.objects.create(team_id=invoice.team_id, invoice=invoice, provider="manual",
                                         method=Payment.Method.BANK_TRANSFER, amount_minor=invoice.amount_due_minor,
                                         currency=invoice.currency, **fields)
    else:
        for name, value in fields.items():
            setattr(payment, name, value)
        payment.save()
    audit_log(actor=actor, action="payment.mark_paid_manually", target=payment,
              data={"invoice": invoice.display_number, "reference": reference, "amount_minor": payment.amount_minor})
    emit_payment_settled(payment)
    tell_invoice(payment, actor)
    return payment
