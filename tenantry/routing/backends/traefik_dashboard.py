"""The dashboard's own route in Traefik: the operator's dashboard host (TENANTRY_DASHBOARD_URL)
to the control plane, with a certificate from the ACME resolver when TLS is on. Tenants'
hosts never match it (the dashboard host is refused as a custom domain, see routing.services)."""

from __future__ import annotations

from typing import Any

from tenantry.routing.backends.traefik_static import HTTP_RESOLVER, TlsConfig

DASHBOARD_ROUTER = "tenantry-dashboard"


def dashboard_http(*, host: str, upstream: str, entrypoint: str, tls: TlsConfig | None,
                   hsts_middleware: str) -> dict[str, Any]:
    """The routers/services to merge into the base file's `http` section."""
    router: dict[str, Any] = {"rule": f"Host(`{host}`)", "entryPoints": [entrypoint], "service": DASHBOARD_ROUTER}
    if tls:
        router["tls"] = {"certResolver": HTTP_RESOLVER}
        router["middlewares"] = [hsts_middleware]
    return {"routers": {DASHBOARD_ROUTER: router},
            # passHostHeader: Django checks the host (ALLOWED_HOSTS) and builds CSRF origins from it.
            "services": {DASHBOARD_ROUTER: {"loadBalancer": {"servers": [{"url": upstream}],
                                                             "passHostHeader": True}}}}


def dashboard_settings() -> dict[str, Any] | None:
    """(host, upstream) of the dashboard route when the proxy serves the dashboard, else None."""
    from django.conf import settings

    conf = getattr(settings, "TENANTRY_DASHBOARD", None) or {}
    if not conf.get("PROXY") or not conf.get("HOST"):
        return None
    return {"host": conf["HOST"], "upstream": conf["UPSTREAM"]}
