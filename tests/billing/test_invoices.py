"""Invoices: exactly-once renewal (database-enforced), gapless numbers, tax and VAT id, credit notes, PDF."""

from __future__ import annotations

import itertools
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import IntegrityError, transaction

from tenantry.billing.models import Invoice, InvoiceSeries, InvoiceStatus, TaxRate
from tenantry.billing.pdf import ensure_invoice_pdf
from tenantry.billing.services import (
    billing_run,
    credit_note_create,
    invoice_mark_paid,
    invoice_void,
    subscription_checkout,
)
from tenantry.core.errors import Conflict, ValidationError
from tests.billing.billing_helpers import french_vat, make_coupon, make_plan, make_team

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 15, 12, tzinfo=UTC)


def _paid_subscription(slug: str, plan, **kwargs):
    subscription = subscription_checkout(team=make_team(slug, **kwargs), plan=plan, interval="month", actor="u")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    return subscription


@time_machine.travel(T0, tick=False)
def test_a_period_is_invoiced_once_even_when_the_run_repeats() -> None:
    plan = make_plan()
    subscriptions = [_paid_subscription(f"team{i}", plan) for i in range(3)]
    end = subscriptions[0].current_period_end
    first = billing_run(now=end, batch_size=2)
    again = billing_run(now=end)
    assert (first.invoices, first.batches, again.invoices) == (3, 2, 0)
    assert Invoice.objects.filter(reason="renewal").count() == 3

    # The database itself refuses a second invoice for the same subscription period.
    existing = Invoice.objects.filter(reason="renewal").first()
    assert existing is not None
    duplicate = Invoice(team_id=existing.team_id, account_id=existing.account_id, subscription=existing.subscription,
                        reason="renewal", currency="EUR", period_start=existing.period_start,
                        period_end=existing.period_end)
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


@time_machine.travel(T0, tick=False)
def test_missed_periods_are_caught_up_one_invoice_each_and_numbers_are_gapless() -> None:
    subscription = _paid_subscription("late", make_plan())
    report = billing_run(now=T0 + timedelta(days=95))
    assert report.invoices == 3
    periods = list(Invoice.objects.filter(subscription=subscription, reason="renewal")
                   .order_by("period_start").values_list("period_start", "period_end"))
    assert [p[0].date().isoformat() for p in periods] == ["2026-04-15", "2026-05-15", "2026-06-15"]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(periods))
    numbers = sorted(Invoice.objects.exclude(number=None).values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    assert InvoiceSeries.objects.get(prefix="INV").last_number == len(numbers)


@time_machine.travel(T0, tick=False)
def test_a_failed_finalization_leaves_no_gap() -> None:
    plan = make_plan()
    subscription_checkout(team=make_team("a"), plan=plan, interval="month", actor="u")
    with pytest.raises(RuntimeError), transaction.atomic():
        subscription_checkout(team=make_team("b"), plan=plan, interval="month", actor="u")
        raise RuntimeError("crash after the number was taken")
    subscription_checkout(team=make_team("c"), plan=plan, interval="month", actor="u")
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [1, 2]


@time_machine.travel(T0, tick=False)
def test_tax_per_country_and_reverse_charge_with_vat_id() -> None:
    french_vat()
    TaxRate.objects.create(country="BE", name="BTW", percent=Decimal(21), reverse_charge_with_vat_id=True)
    plan = make_plan(month=3333)
    fr = subscription_checkout(team=make_team("fr"), plan=plan, interval="month", actor="u")
    be = subscription_checkout(team=make_team("be", country="BE", vat_id="BE0123456789"), plan=plan,
                               interval="month", actor="u")
    fr_invoice, be_invoice = Invoice.objects.get(subscription=fr), Invoice.objects.get(subscription=be)
    assert (fr_invoice.tax_minor, fr_invoice.total_minor) == (667, 4000)  # 666.6 rounded half up, once
    assert be_invoice.tax_minor == 0 and "reverse charge" in be_invoice.tax_name
    assert be_invoice.vat_id == "BE0123456789" and be_invoice.buyer["vat_id"] == "BE0123456789"


@time_machine.travel(T0, tick=False)
def test_credit_notes_instead_of_edits_and_void_rules() -> None:
    french_vat()
    subscription = subscription_checkout(team=make_team(), plan=make_plan(), interval="month", actor="u")
    invoice = Invoice.objects.get(subscription=subscription)
    note = credit_note_create(invoice=invoice, amounts=[("Goodwill", 1000)], reason="outage", actor="op")
    assert (note.subtotal_minor, note.tax_minor, note.total_minor, str(note)) == (1000, 200, 1200, "CN-000001")
    with pytest.raises(ValidationError):
        credit_note_create(invoice=invoice, amounts=[("Too much", 5000)], reason="x", actor="op")
    invoice_mark_paid(invoice=invoice, payment=None, actor="t")
    with pytest.raises(Conflict):
        invoice_void(invoice=invoice, actor="op", reason="x")
    invoice.refresh_from_db()
    assert invoice.total_minor == 3480 and invoice.status == InvoiceStatus.PAID  # unchanged


@time_machine.travel(T0, tick=False)
def test_zero_invoice_is_settled_on_issue() -> None:
    make_coupon("FREE", kind="percent", percent=Decimal(100), duration="forever")
    subscription = subscription_checkout(team=make_team(), plan=make_plan(), interval="month", actor="u",
                                         coupon_code="FREE")
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.total_minor == 0 and invoice.status == InvoiceStatus.PAID
    subscription.refresh_from_db()
    assert subscription.status == "active"


@time_machine.travel(T0, tick=False)
def test_pdf_holds_number_lines_vat_id_and_total(output_dir: Path, mailoutbox,
                                                 django_capture_on_commit_callbacks) -> None:
    french_vat()
    team = make_team("pdfco", vat_id="FR12345678901")
    with django_capture_on_commit_callbacks(execute=True):
        subscription = subscription_checkout(team=team, plan=make_plan(name="Starter"), interval="month", actor="u")
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.pdf_path and invoice.emailed_at is not None
    path = ensure_invoice_pdf(invoice)
    assert str(path) == invoice.pdf_path
    assert path.read_bytes().startswith(b"%PDF")
    (output_dir / "invoice-example.pdf").write_bytes(path.read_bytes())
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert invoice.display_number in text
    assert "Starter (monthly), 2026-03-15 to 2026-04-15" in text
    assert "FR12345678901" in text
    assert "34.80 €" in text and "5.80 €" in text and "29.00 €" in text
    # Emailed on finalization with the PDF attached (the queue runs immediately in tests).
    message = next(m for m in mailoutbox if invoice.display_number in m.subject)
    assert message.to == ["billing@pdfco.test"]
    assert message.attachments[0][0] == f"{invoice.display_number}.pdf"
    assert message.attachments[0][1].startswith(b"%PDF")
    assert "text/html" in [alt[1] for alt in message.alternatives]


@time_machine.travel(T0, tick=False)
def test_zero_decimal_currency_invoice() -> None:
    TaxRate.objects.create(country="SN", name="TVA", percent=Decimal(18))
    plan = make_plan("xof", month=15001, year=None, currency="XOF")
    subscription = subscription_checkout(team=make_team("dakar", country="SN", time_zone="Africa/Dakar"), plan=plan,
                                         interval="month", actor="u")
    invoice = Invoice.objects.get(subscription=subscription)
    assert (invoice.currency, invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (
        "XOF", 15001, 2700, 17701)  # 2700.18 FCFA of tax rounds to a whole franc


@pytest.mark.postgres  # SQLite serialises writers: the concurrent run is a PostgreSQL property
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_invoice_each_period_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    plan = make_plan()
    with time_machine.travel(T0, tick=False):
        for i in range(40):
            _paid_subscription(f"c{i}", plan)
    end = T0 + timedelta(days=31)

    def run(_: int) -> int:
        try:
            return billing_run(now=end, batch_size=5, notify=False).invoices
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        counts = list(pool.map(run, range(3)))
    assert sum(counts) == 40
    assert Invoice.objects.filter(reason="renewal").count() == 40
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 81))
