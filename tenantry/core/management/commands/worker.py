from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the task worker (operations, reconciler, hibernation)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-periodic", action="store_true",
                            help="do not schedule periodic tasks (every worker but one, beside `tenantry worker` "
                                 "as the scheduler)")
        parser.add_argument("--threads", type=int, default=None, help="worker threads (TENANTRY_WORKER_THREADS)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Consumer options come from settings.HUEY["consumer"]. Quiet: Huey's own INFO lines (one
        # per task started and finished) would drown the operations' own lines and errors.
        overrides: dict[str, Any] = {"huey_verbose": False}
        if options["no_periodic"]:
            overrides["periodic"] = False
        if options["threads"]:
            overrides["workers"] = options["threads"]
        call_command("run_huey", **overrides)
