"""`tenantry proxy_config`: write Traefik's static configuration and the routes of every instance,
for a Traefik run by systemd or compose (what `tenantry up` does before starting its own)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Write Traefik's static configuration (TENANTRY_TRAEFIK_DIR/traefik.yml) and sync every route."

    def handle(self, *args: Any, **options: Any) -> None:
        from tenantry.core.management.commands.up import write_traefik_static_config
        from tenantry.instances.reconciler import sync_routes
        from tenantry.routing.registry import routing

        path = write_traefik_static_config()
        routing().ensure_base()  # type: ignore[attr-defined]
        sync_routes()
        self.stdout.write(f"{path}")
