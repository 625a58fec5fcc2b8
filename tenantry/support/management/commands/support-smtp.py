"""`tenantry support-smtp`: the inbound SMTP server for replies to support tickets (also started
by `tenantry up` unless TENANTRY_SUPPORT_SMTP_ENABLED=0)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from tenantry.support.inbound_smtp import server_kwargs, start_server


class Command(BaseCommand):
    help = "Receive replies to support tickets by SMTP (127.0.0.1:2525 by default)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=None)
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        where = server_kwargs()
        host = options["host"] or where["host"]
        port = options["port"] or where["port"]
        controller = start_server(host, port)
        self.stdout.write(f"support SMTP server listening on {host}:{port}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        controller.stop()
