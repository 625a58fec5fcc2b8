from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from tenantry.instances.reconciler import reconcile
from tenantry.runtime.backends.base import BackendError
from tenantry.runtime.models import Server
from tenantry.runtime.registry import runtime_for


class Command(BaseCommand):
    help = "Run one reconciliation pass now (the worker runs one every minute)."

    def handle(self, *args: Any, **options: Any) -> None:
        # A process's first use of an engine checks the firewall rules of every network (the
        # worker does it once, when it starts): timed apart from the pass the worker repeats.
        started = time.perf_counter()
        for server in Server.objects.filter(is_active=True):
            try:
                runtime_for(server).missing_images([])  # any call: connects
            except BackendError as exc:
                self.stderr.write(f"{server.name}: {exc.message}")
        connected = time.perf_counter()
        report = reconcile()
        took = time.perf_counter() - connected
        self.stdout.write(f"resumed: {len(report.resumed)}, healed: {report.healed}, stopped: {report.stopped}, "
                          f"orphans removed: {len(report.orphans_removed)}; in {took:.2f} s "
                          f"(engines connected in {connected - started:.2f} s before)")
        for error in report.errors:
            self.stderr.write(error)
