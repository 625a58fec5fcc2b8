"""Routing contract tests run against every proxy: a real Traefik (the session's) and a real Caddy."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER
from tests.conftest import Proxy, wait_for
from tests.http_stub import TextHandler, background_servers
from tests.testenv import free_port


class CaddyProxy(Proxy):
    """A real `caddy run` with Tenantry's start-up configuration, on ports of its own."""

    kind = "caddy"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    def admin_requests(self) -> dict[str, int]:
        """Requests Caddy's admin API has answered, by "METHOD path" (its own counter, /metrics;
        the /metrics reads themselves left out). Caddy counts a request to /id/… again under
        /config/ when it resolves the id to its path."""
        counts: dict[str, int] = {}
        for line in self.session.get(f"{self.admin_url}/metrics", timeout=5).text.splitlines():
            if line.startswith("caddy_admin_http_requests_total{") and 'handler="metrics"' not in line:
                method = line.split('method="', 1)[1].split('"', 1)[0]
                path = line.split('path="', 1)[1].split('"', 1)[0]
                name = f"{method} {path}"
                counts[name] = counts.get(name, 0) + int(float(line.rsplit(" ", 1)[1]))
        return counts


@pytest.fixture(scope="session")
def caddy() -> Iterator[CaddyProxy]:
    import json

    from tenantry.routing.backends.caddy import initial_config

    binary = shutil.which("caddy")
    if not binary:
        pytest.fail("Caddy is not installed: apt-get install caddy (.ci/run does)")
    directory = Path(tempfile.mkdtemp(prefix="tenantry-caddy-"))
    proxy = CaddyProxy(free_port(), free_port(), directory)
    config = directory / "caddy.json"
    config.write_text(json.dumps(initial_config(listen=f"127.0.0.1:{proxy.port}",
                                                admin=f"127.0.0.1:{proxy.internal_port}",
                                                storage_dir=str(directory / "data"))))
    log = open(directory / "caddy.log", "w")  # noqa: SIM115
    env = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(directory / "config"),
           "XDG_DATA_HOME": str(directory / "data")}
    proxy.process = subprocess.Popen([binary, "run", "--config", str(config)], stdout=log,
                                     stderr=subprocess.STDOUT, env=env)

    def answers() -> bool:
        try:
            return proxy.session.get(f"{proxy.admin_url}/config/", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(answers, timeout=20, what="Caddy's admin API")
    yield proxy
    proxy.process.terminate()
    proxy.process.wait(timeout=10)
    log.close()


@pytest.fixture(params=["traefik", "caddy"])
def proxy(request, settings, edge_listener) -> Iterator[Proxy]:
    """The proxy under test with Tenantry's routing backend for it (`routing()`), whose edge is
    the test run's edge listener, starting with no routes; the live control plane runs too."""
    from tenantry.core.backends import reset_backends
    from tenantry.routing.registry import routing

    if request.param == "traefik":
        found: Proxy = request.getfixturevalue("edge")
        found.kind = "traefik"  # type: ignore[attr-defined]
        yield found
        return
    request.getfixturevalue("live_server")
    found = request.getfixturevalue("caddy")
    settings.TENANTRY = {**settings.TENANTRY, "EDGE_URL": edge_listener}
    settings.ROUTING_BACKENDS = {"default": {"BACKEND": "tenantry.routing.backends.caddy.CaddyRouting",
                                             "OPTIONS": {"admin_url": found.admin_url}}}  # type: ignore[attr-defined]
    reset_backends()
    routing().ensure_base()  # type: ignore[attr-defined]
    routing().sync([])
    found.edge_url = edge_listener
    yield found
    routing().sync([])
    reset_backends()  # the next test's routing() follows its own settings


class _Upstream(TextHandler):
    def answer(self) -> str:
        credential = self.headers.get_all(EDGE_CREDENTIAL_HEADER) or []
        return (f"upstream {self.server.server_address[1]} saw {self.headers['Host']}{self.path}"
                f"{' key=' + ','.join(credential) if credential else ''}")


@pytest.fixture()
def upstreams():
    with background_servers(_Upstream) as urls:
        yield urls
