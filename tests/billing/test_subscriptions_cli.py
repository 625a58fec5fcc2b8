"""`tenantry billing seed|run|dunning|expire-addons` and the periodic tasks they back."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.billing.models import AddOn, Invoice, Plan, TaxRate
from tenantry.billing.services import invoice_mark_paid, subscription_checkout
from tests.billing.billing_helpers import make_team

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = StringIO()
    call_command("billing", *args, stdout=out)
    return out.getvalue()


def test_seed_is_idempotent_and_keeps_operator_edits() -> None:
    assert _call("seed") == "11 plans created, 6 addons created, 5 tax_rates created\n"  # 4 generic + the seeds' 7
    Plan.objects.filter(code="starter").update(price_month_minor=3100)
    assert _call("seed") == "0 plans created, 0 addons created, 0 tax_rates created\n"
    assert Plan.objects.get(code="starter").price_month_minor == 3100
    assert Plan.objects.get(code="business").price_month_minor == 9900
    xof = Plan.objects.get(code="starter-xof")
    assert (xof.currency, xof.price_month_minor) == ("XOF", 15000)
    assert {a.code: a.price_minor for a in AddOn.objects.filter(currency="EUR")} == {
        "ram-500": 100, "cpu-1": 200, "traffic-10": 100, "storage-10": 100}
    assert TaxRate.objects.get(country="FR").percent == 20


def test_run_with_now_invoices_due_subscriptions_once() -> None:
    _call("seed")
    with time_machine.travel(datetime(2026, 1, 31, 10, tzinfo=UTC), tick=False):
        subscription = subscription_checkout(team=make_team(), plan=Plan.objects.get(code="business"),
                                             interval="month", actor="u")
        invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    assert _call("run", "--now", "2026-02-27T00:00:00").startswith("0 invoices")
    assert _call("run", "--now", "2026-02-28T10:00:00").startswith("1 invoices")
    assert _call("run", "--now", "2026-02-28T10:00:00").startswith("0 invoices")
    assert _call("dunning", "--now", "2026-03-01T00:00:00") == (
        "0 retried, 0 reminded, 0 suspended, 0 archived, 0 deleted, 0 errors, 0 expired\n")
    assert _call("expire-addons") == "0 add-ons expired\n"
    with pytest.raises(CommandError):
        _call("run", "--now", "yesterday")


def test_periodic_tasks_are_registered_at_the_seed_times() -> None:
    from huey.contrib.djhuey import HUEY

    from tenantry.billing import tasks

    names = {task.__name__ for task in HUEY._registry._periodic_tasks}
    assert {"billing_run_task", "dunning_task", "addons_expire_task"} <= names
    at_five = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
    task = tasks.addons_expire_task.task_class()
    assert task.validate_datetime(at_five)
    assert not task.validate_datetime(at_five.replace(hour=6))
