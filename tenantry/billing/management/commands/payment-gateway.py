"""`tenantry payment-gateway --port 8090`: run the reference Mobile Money gateway.

For development and tests only. It shares its API key and callback secret with the `gateway`
payment provider through the settings (TENANTRY_GATEWAY_API_KEY / _WEBHOOK_SECRET, or the
generated files in the data directory), so `tenantry up` and this command work together as-is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenantry.billing.gateway_reference.server import GatewayServer


class Command(BaseCommand):
    help = "Run the reference Mobile Money payment gateway (development and tests)."

    def add_arguments(self, parser: CommandParser) -> None:
        default_port = urlsplit(settings.PAYMENT_GATEWAY["URL"]).port or 8090
        parser.add_argument("--port", type=int, default=default_port)
        parser.add_argument("--host", default="127.0.0.1",
                            help="address to bind (loopback by default: this is not a production service)")
        parser.add_argument("--db", default=str(settings.DATA_DIR / "payment-gateway.sqlite3"),
                            help="SQLite file for the gateway's payments (':memory:' to forget on exit)")

    def handle(self, *args: object, **options: object) -> None:
        port = int(options["port"])  # type: ignore[call-overload]
        try:
            server = GatewayServer(str(options["host"]), port, api_key=settings.PAYMENT_GATEWAY["API_KEY"],
                                   webhook_secret=settings.PAYMENT_GATEWAY["WEBHOOK_SECRET"],
                                   db_path=str(options["db"]))
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{port}: {exc.strerror}") from None
        self.stdout.write(f"Reference payment gateway on {server.url} (phone pages at {server.url}/phone/<id>)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
