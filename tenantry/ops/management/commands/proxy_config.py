"""`tenantry proxy_config`: write the proxy's configuration and the routes of every instance, for a
proxy run by systemd or compose (what `tenantry up` does before starting its own): Traefik's
static configuration and route files, or (TENANTRY_ROUTING=caddy) Caddy's start-up JSON with
every route in it, also applied through the admin API when a Caddy already runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Write the proxy's configuration (Traefik's traefik.yml, or Caddy's caddy.json) and sync every route."

    def handle(self, *args: Any, **options: Any) -> None:
        from tenantry.instances.reconciler import sync_routes
        from tenantry.routing.registry import routing

        if settings.TENANTRY["ROUTING"] == "caddy":
            from tenantry.core.management.commands.up import write_caddy_config
            from tenantry.runtime.backends.base import TransientBackendError

            path = write_caddy_config(warn=lambda line: self.stderr.write(line))
            try:
                routing().ensure_base()  # type: ignore[attr-defined]
                sync_routes()
            except TransientBackendError:
                pass  # no Caddy running yet: it starts from the file
            self.stdout.write(f"{path}")
            return
        from tenantry.core.management.commands.up import write_traefik_static_config

        path = write_traefik_static_config()
        routing().ensure_base()  # type: ignore[attr-defined]
        sync_routes()
        self.stdout.write(f"{path}")
