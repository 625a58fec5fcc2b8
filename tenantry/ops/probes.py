"""Readiness probes: can this control plane do its work right now?

Each probe answers in about a second at most and names what failed, for `/readyz` (supervisors,
load balancers) and `tenantry doctor` (people).
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

PROBE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str


def probe_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def probe_queue() -> str:
    from huey.contrib.djhuey import HUEY

    # Reads the queue's storage (Redis or the SQLite file): fails when it is unreachable.
    return f"{HUEY.pending_count()} pending"


def docker_base_url() -> str:
    backends: dict[str, Any] = settings.RUNTIME_BACKENDS
    options: dict[str, Any] = backends["default"]["OPTIONS"]
    return str(options["base_url"])


def probe_docker() -> str:
    from tenantry.runtime.backends.docker import DockerRuntime

    runtime = DockerRuntime(base_url=docker_base_url(), firewall="off", timeout=int(PROBE_TIMEOUT_SECONDS))
    try:
        runtime.ping()
    finally:
        runtime.close()
    return "engine answers"


def proxy_ping_url() -> str:
    return f"http://127.0.0.1:{settings.TENANTRY['PROXY_INTERNAL_PORT']}/ping"


def probe_proxy() -> str:
    if settings.TENANTRY.get("ROUTING") == "caddy":
        # Caddy has no /ping: its admin API (same loopback port) shows Tenantry's server.
        from tenantry.routing.registry import routing

        return routing().ping()  # type: ignore[attr-defined]
    # Plain http.client: Traefik's own API on loopback, never through an HTTP proxy from the
    # environment, and no tenant app is involved (those go through tenant_http).
    connection = http.client.HTTPConnection("127.0.0.1", settings.TENANTRY["PROXY_INTERNAL_PORT"],
                                            timeout=PROBE_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/ping")
        status = connection.getresponse().status
    except OSError as exc:
        raise RuntimeError(f"Traefik's ping at {proxy_ping_url()} did not answer ({exc})") from exc
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"Traefik's ping answered {status}")
    return "Traefik answers /ping"


READINESS_PROBES: dict[str, Callable[[], str]] = {
    "database": probe_database,
    "queue": probe_queue,
    "docker": probe_docker,
    "proxy": probe_proxy,
}


def run_probe(name: str, probe: Callable[[], str]) -> ProbeResult:
    try:
        return ProbeResult(name, True, probe())
    except Exception as exc:  # a probe reports any failure; it never raises
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return ProbeResult(name, False, message[:300])


def readiness() -> list[ProbeResult]:
    return [run_probe(name, probe) for name, probe in READINESS_PROBES.items()]
