"""`tenantry billing run [--now ISO]`, `tenantry billing dunning [--now ISO]`, `tenantry billing seed`,
`tenantry billing expire-addons`."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now: not an ISO date-time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Billing: renewal run, dunning, add-on expiry, example catalogue."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        run = sub.add_parser("run", help="invoice every subscription whose period ended (exactly once)")
        run.add_argument("--now", help="pretend it is this ISO date-time (UTC unless it says otherwise)")
        dunning = sub.add_parser("dunning", help="advance payment reminders, suspensions and archiving")
        dunning.add_argument("--now")
        expire = sub.add_parser("expire-addons", help="expire add-ons past their date and shrink instances")
        expire.add_argument("--now")
        sub.add_parser("seed", help="create the example plans, add-ons and tax rates (idempotent)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "seed":
            from tenantry.billing.seed import seed_billing_catalog

            created = seed_billing_catalog()
            self.stdout.write(", ".join(f"{n} {what} created" for what, n in created.items()))
            return
        now = _moment(options.get("now"))
        started = time.perf_counter()
        if action == "run":
            from tenantry.billing.services import billing_run

            report = billing_run(now=now)
            elapsed = time.perf_counter() - started
            self.stdout.write(f"{report.invoices} invoices, {report.ended} subscriptions ended, "
                              f"{report.batches} batches in {elapsed:.2f} s")
        elif action == "dunning":
            from tenantry.billing.services import dunning_advance

            counts = dunning_advance(now=now)
            self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()))
        elif action == "expire-addons":
            from tenantry.billing.services import addons_expire

            self.stdout.write(f"{addons_expire(now=now)} add-ons expired")
