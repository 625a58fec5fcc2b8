"""`tenantry edge`: the edge's own listener (tenantry.edge.app), on loopback for the proxy only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


def edge_server(*, host: str, port: int) -> Any:
    """The edge's uvicorn server (`tenantry edge`, and the edge role of `tenantry serve`)."""
    import uvicorn

    from tenantry.edge.app import EdgeApp

    conf = settings.TENANTRY
    return uvicorn.Server(uvicorn.Config(
        EdgeApp(), host=host, port=port, lifespan="on", access_log=False, server_header=False,
        proxy_headers=False, log_level="warning",
        # A last bound on open connections; held webhooks have their own (EDGE_HOLD_*).
        limit_concurrency=conf["EDGE_HOLD_TOTAL"] * 4 + 100))


class Command(BaseCommand):
    help = "Run the edge: status pages and held webhooks on instances' addresses (the proxy's only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.TENANTRY["EDGE_PORT"])

    def handle(self, *args: Any, **options: Any) -> None:
        edge_server(host=options["host"], port=options["port"]).run()
