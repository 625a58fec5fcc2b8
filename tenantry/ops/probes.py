"""Readiness probes: can this control plane do its work right now?

Each probe answers in about a second at most and names what failed, for `/readyz` (supervisors,
load balancers) and `tenantry doctor` (people).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
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
    session = requests.Session()
    session.trust_env = False  # loopback: never through an HTTP proxy from the environment
    response = session.get(proxy_ping_url(), timeout=PROBE_TIMEOUT_SECONDS, allow_redirects=False)
    if response.status_code != 200:
        raise RuntimeError(f"Traefik's ping answered {response.status_code}")
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
