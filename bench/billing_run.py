"""Billing run benchmark: renew N subscriptions (some with add-ons and coupons) in ONE run on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tenantry_bench .venv/bin/python bench/billing_run.py [--count 10000]

Creates the database if needed, migrates, bulk-creates the fixtures (teams, billing accounts,
subscriptions whose period just ended, add-ons, coupons), runs the billing run once, checks that
every subscription got exactly one invoice with gapless numbers, and prints invoices per second.
The invoice PDFs and emails are queued work and not part of the run (the run is measured alone).
Goal: the whole run under 60 s for 10,000 subscriptions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tenantry_bench"


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--profile", action="store_true", help="print the run's top functions (cProfile)")
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/billing_run.py runs on PostgreSQL: set DATABASE_URL=postgres://…")
    os.environ.setdefault("TENANTRY_DATA_DIR", tempfile.mkdtemp(prefix="tenantry-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    os.environ.setdefault("TENANTRY_LOG_LEVEL", "WARNING")
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    created = setup_fixtures(args.count)
    print(f"fixtures: {created} subscriptions ({args.count // 3} with add-ons, {args.count // 5} with coupons)")

    from django.db import connection

    from tenantry.billing.models import Invoice, InvoiceSeries
    from tenantry.billing.services import billing_run

    connection.close()
    now = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    report = billing_run(now=now, batch_size=args.batch_size, notify=False)
    elapsed = time.perf_counter() - started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)

    invoices = Invoice.objects.filter(reason="renewal")
    assert report.invoices == invoices.count() == args.count, (report.invoices, invoices.count())
    assert invoices.values("subscription").distinct().count() == args.count
    numbers = sorted(invoices.values_list("number", flat=True))
    assert numbers == list(range(1, args.count + 1)), "numbers are not gapless"
    assert InvoiceSeries.objects.get(prefix="INV").last_number == args.count
    again = billing_run(now=now, notify=False)
    assert again.invoices == 0
    print(f"billing run: {report.invoices} invoices in {report.batches} batches, {elapsed:.2f} s total, "
          f"{report.invoices / elapsed:,.0f} invoices/s (goal: < 60 s)")
    print("second run: 0 invoices (each period is invoiced once)")


def setup_fixtures(count: int) -> int:
    from django.db import transaction

    from tenantry.accounts.models import Team
    from tenantry.billing.models import (
        AddOn,
        AddOnPurchase,
        BillingAccount,
        Coupon,
        Discount,
        Plan,
        Subscription,
        TaxRate,
    )

    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 2, 1, tzinfo=UTC)
    with transaction.atomic():
        TaxRate.objects.create(country="FR", name="TVA", percent=Decimal(20))
        TaxRate.objects.create(country="BE", name="BTW", percent=Decimal(21), reverse_charge_with_vat_id=True)
        plans = [Plan.objects.create(code=f"plan{i}", name=f"Plan {i}", price_month_minor=price, price_year_minor=None,
                                     addons_allowed=True) for i, price in enumerate([2900, 4900, 9900])]
        addons = [AddOn.objects.create(code="ram-500", name="+500 MB RAM", resource="memory", quantity=500,
                                       price_minor=100),
                  AddOn.objects.create(code="cpu-1", name="+1 CPU", resource="cpu", quantity=1, price_minor=200)]
        coupons = [Coupon.objects.create(code="HALF3", kind="percent", percent=Decimal(50), duration="repeating",
                                         duration_periods=3),
                   Coupon.objects.create(code="FIVE", kind="fixed", amount_minor=500, currency="EUR",
                                         duration="forever")]
        teams = Team.objects.bulk_create([Team(name=f"Bench {i}", slug=f"bench-{i}") for i in range(count)],
                                         batch_size=2000)
        accounts = BillingAccount.objects.bulk_create(
            [BillingAccount(team=t, country="BE" if i % 7 == 0 else "FR", vat_id="BE0123" if i % 14 == 0 else "",
                            time_zone="Europe/Paris" if i % 2 else "UTC", billing_email=f"b{i}@bench.test")
             for i, t in enumerate(teams)], batch_size=2000)
        subscriptions = Subscription.objects.bulk_create(
            [Subscription(team=t, account=a, plan=plans[i % 3], interval="month", currency="EUR", status="active",
                          billing_anchor=start, current_period_start=start, current_period_end=end)
             for i, (t, a) in enumerate(zip(teams, accounts, strict=True))], batch_size=2000)
        AddOnPurchase.objects.bulk_create(
            [AddOnPurchase(team=s.team, subscription=s, addon=addons[i % 2], quantity=1 + i % 2,
                           unit_price_minor=addons[i % 2].price_minor, currency="EUR", starts_at=start,
                           expires_at=end + timedelta(days=1))
             for i, s in enumerate(subscriptions) if i % 3 == 0], batch_size=2000)
        Discount.objects.bulk_create(
            [Discount(subscription=s, coupon=coupons[i % 2]) for i, s in enumerate(subscriptions) if i % 5 == 0],
            batch_size=2000)
    return len(subscriptions)


if __name__ == "__main__":
    main()
