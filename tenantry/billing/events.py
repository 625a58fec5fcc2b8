"""The events billing emits (tenantry/events/catalog.py): invoices issued and paid, payments settled."""

from __future__ import annotations

from collections.abc import Sequence

from tenantry.billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from tenantry.events.services import emit, emit_many


def _invoice_data(invoice: Invoice) -> dict[str, object]:
    return {"invoice_id": str(invoice.pk), "number": invoice.display_number, "status": invoice.status,
            "total_minor": invoice.total_minor, "currency": invoice.currency}


def emit_invoices_finalized(invoices: Sequence[Invoice]) -> None:
    """invoice.finalized for each, and invoice.paid for those settled on issue (nothing due)."""
    events: list[tuple[str, object, dict[str, object]]] = []
    for invoice in invoices:
        events.append(("invoice.finalized", invoice.team_id, _invoice_data(invoice)))
        if invoice.status == InvoiceStatus.PAID:
            events.append(("invoice.paid", invoice.team_id, _invoice_data(invoice)))
    emit_many(events)


def emit_invoice_paid(invoice: Invoice) -> None:
    emit("invoice.paid", team=invoice.team, data=_invoice_data(invoice))


def emit_payment_settled(payment: Payment) -> None:
    """payment.succeeded or payment.failed; other outcomes (cancelled) are not events."""
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        return
    emit(f"payment.{payment.status}", team=payment.team,
         data={"payment_id": str(payment.pk), "invoice_id": str(payment.invoice_id) if payment.invoice_id else None,
               "status": payment.status, "amount_minor": payment.amount_minor, "currency": payment.currency,
               "provider": payment.provider, "failure_message": payment.failure_message[:500]})
