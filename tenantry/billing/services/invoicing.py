"""Invoices: build lines, tax per invoice, finalize with a gapless number, pay, void, credit notes.

Issued invoices are never edited: corrections are credit notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tenantry.billing.conf import billing_setting
from tenantry.billing.events import emit_invoices_finalized
from tenantry.billing.models import (
    BillingAccount,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    Subscription,
    TaxRate,
)
from tenantry.billing.money import invoice_totals
from tenantry.billing.services.accounts import BillingError
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, ValidationError


@dataclass(frozen=True)
class LineDraft:
    kind: str
    description: str
    amount_minor: int
    unit_amount_minor: int | None = None
    quantity: int = 1
    period_start: datetime | None = None
    period_end: datetime | None = None
    addon_purchase_id: UUID | None = None


@dataclass(frozen=True)
class TaxChoice:
    name: str
    percent: Decimal


def tax_for(account: BillingAccount, rates: dict[str, TaxRate] | None = None) -> TaxChoice:
    """The rate of the customer's country; reverse charge (0 %) for a business with a VAT id where allowed."""
    rate = rates.get(account.country) if rates is not None else TaxRate.objects.filter(country=account.country).first()
    if rate is None:
        return TaxChoice(name="", percent=Decimal(0))
    if rate.reverse_charge_with_vat_id and account.vat_id:
        return TaxChoice(name=f"{rate.name} (reverse charge)", percent=Decimal(0))
    return TaxChoice(name=rate.name, percent=rate.percent)


def reserve_numbers(series: str, count: int) -> int:
    """Take `count` consecutive numbers of a series; returns the first. Gapless: the counter row is
    locked until the caller's transaction ends, and rolled back with it."""
    InvoiceSeries.objects.get_or_create(prefix=series)
    row = InvoiceSeries.objects.select_for_update().get(prefix=series)
    first = row.last_number + 1
    InvoiceSeries.objects.filter(prefix=series).update(last_number=F("last_number") + count)
    return first


def buyer_snapshot(account: BillingAccount) -> dict[str, str]:
    return {"name": account.legal_name or account.team.name, "email": account.billing_email,
            "address_line1": account.address_line1, "address_line2": account.address_line2,
            "postal_code": account.postal_code, "city": account.city, "country": account.country,
            "vat_id": account.vat_id}


def build_invoice(*, account: BillingAccount, subscription: Subscription | None, reason: str, currency: str,
                  lines: Sequence[LineDraft], period_start: datetime | None = None,
                  period_end: datetime | None = None,
                  tax: TaxChoice | None = None) -> tuple[Invoice, list[InvoiceLine]]:
    """Unsaved invoice + lines with totals computed (used by the services, the preview and the bulk run)."""
    tax = tax or tax_for(account)
    totals = invoice_totals([line.amount_minor for line in lines], tax.percent)
    invoice = Invoice(team_id=account.team_id, account=account, subscription=subscription, reason=reason,
                      currency=currency, period_start=period_start, period_end=period_end,
                      subtotal_minor=totals.subtotal_minor, tax_minor=totals.tax_minor,
                      total_minor=totals.total_minor, tax_name=tax.name, tax_percent=tax.percent,
                      series=billing_setting("INVOICE_SERIES"), vat_id=account.vat_id)
    rows = [InvoiceLine(invoice=invoice, position=i, kind=line.kind, description=line.description[:300],
                        quantity=line.quantity,
                        unit_amount_minor=(line.amount_minor if line.unit_amount_minor is None
                                           else line.unit_amount_minor),
                        amount_minor=line.amount_minor, period_start=line.period_start, period_end=line.period_end,
                        addon_purchase_id=line.addon_purchase_id)
            for i, line in enumerate(lines, start=1)]
    return invoice, rows


def stamp_finalized(invoice: Invoice, number: int, now: datetime) -> None:
    """Fields an invoice gets when it is issued (shared by one-by-one and bulk finalization)."""
    invoice.number = number
    invoice.issued_at = now
    invoice.due_at = now + timedelta(days=billing_setting("PAYMENT_TERMS_DAYS"))
    invoice.buyer = buyer_snapshot(invoice.account)
    if invoice.total_minor <= 0:  # nothing to pay: settled on issue
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
    else:
        invoice.status = InvoiceStatus.FINALIZED


def create_invoice(*, account: BillingAccount, subscription: Subscription | None, reason: str, currency: str,
                   lines: Sequence[LineDraft], actor: str, period_start: datetime | None = None,
                   period_end: datetime | None = None, finalize: bool = True) -> Invoice:
    invoice, rows = build_invoice(account=account, subscription=subscription, reason=reason, currency=currency,
                                  lines=lines, period_start=period_start, period_end=period_end)
    invoice.save()
    InvoiceLine.objects.bulk_create(rows)
    audit_log(actor=actor, action="invoice.create", target=invoice,
              data={"reason": reason, "total_minor": invoice.total_minor, "currency": currency})
    if finalize:
        invoice = invoice_finalize(invoice=invoice, actor=actor)
    return invoice


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, actor: str) -> Invoice:
    """draft -> finalized (or paid when nothing is due): number, buyer snapshot; PDF + email after commit."""
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("account__team").get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.DRAFT:
        return invoice
    stamp_finalized(invoice, reserve_numbers(invoice.series, 1), timezone.now())
    invoice.save()
    audit_log(actor=actor, action="invoice.finalize", target=invoice,
              data={"number": invoice.display_number, "total_minor": invoice.total_minor})
    emit_invoices_finalized([invoice])
    invoice_id = str(invoice.pk)
    transaction.on_commit(lambda: _send(invoice_id))
    return invoice


def _send(invoice_id: str) -> None:
    from tenantry.billing.tasks import invoice_issued_task

    invoice_issued_task(invoice_id)


@transaction.atomic
def invoice_void(*, invoice: Invoice, actor: str, reason: str) -> Invoice:
    """Cancel an unpaid issued invoice (its number stays used: the series has no gap)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.VOID:
        return invoice
    if invoice.status == InvoiceStatus.PAID:
        raise Conflict("A paid invoice cannot be voided: issue a credit note.", code="invoice_paid")
    if invoice.status == InvoiceStatus.DRAFT:
        invoice.delete()
        return invoice
    invoice.status, invoice.voided_at = InvoiceStatus.VOID, timezone.now()
    invoice.save(update_fields=["status", "voided_at", "updated_at"])
    audit_log(actor=actor, action="invoice.void", target=invoice, data={"reason": reason})
    return invoice


@transaction.atomic
def credit_note_create(*, invoice: Invoice, amounts: Sequence[tuple[str, int]], reason: str,
                       actor: str) -> CreditNote:
    """Credit (part of) an issued invoice. Amounts are positive, before tax; tax at the invoice's rate."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status not in (InvoiceStatus.FINALIZED, InvoiceStatus.PAID):
        raise BillingError("Only an issued invoice can be credited.", code="invoice_not_issued")
    if not amounts or any(amount <= 0 for _, amount in amounts):
        raise ValidationError("Credit note amounts must be positive.", details={"field": "amounts"})
    totals = invoice_totals([a for _, a in amounts], invoice.tax_percent)
    already = sum(invoice.credit_notes.values_list("total_minor", flat=True))
    if already + totals.total_minor > invoice.total_minor:
        raise ValidationError("Credit notes cannot exceed the invoice total.",
                              details={"remaining_minor": invoice.total_minor - already})
    series = billing_setting("CREDIT_NOTE_SERIES")
    note = CreditNote.objects.create(
        invoice=invoice, team_id=invoice.team_id, series=series, number=reserve_numbers(series, 1),
        currency=invoice.currency, reason=reason, subtotal_minor=totals.subtotal_minor, tax_minor=totals.tax_minor,
        total_minor=totals.total_minor, issued_at=timezone.now(), created_by=actor)
    CreditNoteLine.objects.bulk_create([CreditNoteLine(credit_note=note, position=i, description=d[:300],
                                                       amount_minor=a)
                                        for i, (d, a) in enumerate(amounts, start=1)])
    audit_log(actor=actor, action="credit_note.create", target=note,
              data={"invoice": invoice.display_number, "total_minor": totals.total_minor})
    return note
