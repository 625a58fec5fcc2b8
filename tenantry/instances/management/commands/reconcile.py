from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from tenantry.catalog.registry import get_catalog
from tenantry.instances.orphans import grace_text
from tenantry.instances.reconciler import ReconcileReport, reconcile
from tenantry.runtime.backends.base import BackendError
from tenantry.runtime.models import Server
from tenantry.runtime.registry import runtime_for


class Command(BaseCommand):
    help = "Run one reconciliation pass now (the worker runs one every minute)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="print what a pass would do (heal, stop, mark or remove orphans, routes) "
                                 "and do none of it")

    def handle(self, *args: Any, **options: Any) -> None:
        # A process's first use of an engine checks the firewall rules of every network (the
        # worker does it once, when it starts): timed apart from the pass the worker repeats.
        started = time.perf_counter()
        for server in Server.objects.filter(is_active=True):
            try:
                # (missing_images([]), used before, asked the engine nothing: the firewall check
                # was timed as part of the pass, and was most of it)
                runtime_for(server).ping()
            except BackendError as exc:
                self.stderr.write(f"{server.name}: {exc.message}")
        get_catalog()  # read once per process (the app specs' YAML), not by each pass the worker repeats
        connected = time.perf_counter()
        report = reconcile(dry_run=options["dry_run"])
        took = time.perf_counter() - connected
        if report.dry_run:
            self._print_dry_run(report)
            return
        self.stdout.write(f"resumed: {len(report.resumed)}, healed: {report.healed}, stopped: {report.stopped}, "
                          f"orphans removed: {len(report.orphans_removed)}; in {took:.2f} s "
                          f"(engines connected in {connected - started:.2f} s before)")
        if report.orphans_marked or report.orphans_waiting or report.orphans_kept:
            self.stdout.write(f"orphans of unknown instances, removed {grace_text()} after first "
                              f"seen: {len(report.orphans_marked)} marked now, {len(report.orphans_waiting)} "
                              f"waiting, {len(report.orphans_kept)} kept (tenantry orphans list)")
        for error in report.errors:
            self.stderr.write(error)

    def _print_dry_run(self, report: ReconcileReport) -> None:
        lines = [
            "Dry run: nothing was queued, written or removed.",
            f"would resume operations: {report.resumed}",
            f"would heal (start): {report.healed}",
            f"would stop: {report.stopped}",
            f"would remove orphans now: {report.orphans_removed}",
            f"would mark orphans (removed {grace_text()} later): {report.orphans_marked}",
            f"orphans waiting: {report.orphans_waiting}",
            f"orphans kept by an operator: {report.orphans_kept}",
            f"would publish routes: {report.routes_published}",
            f"would unpublish routes: {report.routes_unpublished}",
        ]
        self.stdout.write("\n".join(lines))
        for error in report.errors:
            self.stderr.write(error)
