from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from tenantry.instances.reconciler import reconcile


class Command(BaseCommand):
    help = "Run one reconciliation pass now (the worker runs one every minute)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        report = reconcile()
        took = time.perf_counter() - started
        self.stdout.write(f"resumed: {len(report.resumed)}, healed: {report.healed}, stopped: {report.stopped}, "
                          f"orphans removed: {len(report.orphans_removed)}; in {took:.2f} s")
        for error in report.errors:
            self.stderr.write(error)
