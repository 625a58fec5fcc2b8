from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the task worker (operations, reconciler, hibernation)."

    def handle(self, *args: Any, **options: Any) -> None:
        consumer = settings.HUEY.get("consumer", {})
        call_command("run_huey", workers=consumer.get("workers", 4), worker_type=consumer.get("worker_type", "thread"),
                     periodic=True)
