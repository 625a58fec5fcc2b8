"""What is Caddy's own in its routing backend, against a real Caddy (`caddy` fixture): one admin
request applies one route without touching the others, rate limits and TLS are refused."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tenantry.routing.backends.base import RateLimit, Route
from tenantry.routing.backends.caddy import CaddyRouting, CaddyUnsupported, initial_config
from tenantry.runtime.backends.base import BackendError, TransientBackendError
from tests.http_stub import TextHandler, background_servers

pytestmark = [pytest.mark.caddy]


class _Slow(TextHandler):
    def answer(self) -> str:
        if self.path.startswith("/slow"):
            time.sleep(1.5)  # still being answered while another route is published
        return f"app {self.server.server_address[1]}{self.path}"


@pytest.fixture()
def apps():
    with background_servers(_Slow) as urls:
        yield urls


@pytest.fixture()
def backend(caddy):
    found = CaddyRouting(admin_url=caddy.admin_url, edge_url="http://127.0.0.1:9", edge_secret="s")
    found.ensure_base()
    found.sync([])
    yield found
    found.sync([])


def test_one_publish_is_one_request_and_leaves_the_other_routes_alone(caddy, backend, apps):
    other = Route(key="other", hosts=("other.localhost",), upstream=apps[1])
    route = Route(key="one", hosts=("one.localhost",))
    backend.publish(other)
    backend.publish(route)  # a new key: an update that finds no such route (404), then the insert
    before = caddy.session.get(f"{caddy.admin_url}/id/i-other", timeout=5).json()

    # A request through `other` is in flight while `one` switches to its app.
    slow: dict[str, requests.Response] = {}
    reader = threading.Thread(target=lambda: slow.update(r=caddy.get("other.localhost", "/slow", timeout=10)))
    reader.start()
    time.sleep(0.3)
    counted = caddy.admin_requests()
    switched = Route(key="one", hosts=("one.localhost",), upstream=apps[0])
    backend.publish(switched)
    after = caddy.admin_requests()
    # served as soon as publish returns, without waiting or polling
    assert caddy.get("one.localhost", "/x").text == f"app {apps[0].rsplit(':', 1)[1]}/x"
    # One request, applying one route: no read of the whole configuration, no load of it.
    assert {m: n - counted.get(m, 0) for m, n in after.items() if n != counted.get(m, 0)} == \
        {"PATCH /id/": 1, "PATCH /config/": 1}  # (one request, counted again once resolved, see admin_requests)
    reader.join(timeout=10)
    assert slow["r"].status_code == 200 and slow["r"].text == f"app {apps[1].rsplit(':', 1)[1]}/slow"
    assert caddy.session.get(f"{caddy.admin_url}/id/i-other", timeout=5).json() == before
    routes = caddy.session.get(f"{caddy.admin_url}/config/apps/http/servers/tenantry/routes", timeout=5).json()
    # instances' routes first, the catch-all 404 last (Caddy answers an empty 200 when nothing matches)
    assert [r.get("@id") for r in routes] == ["i-one", "i-other", "tenantry-not-found"]
    assert caddy.get("unknown.localhost").status_code == 404


def test_a_rate_limit_is_refused_not_dropped(caddy, backend, apps):
    """Caddy's standard build has no rate limiter and the edge does not throttle: a throttled
    route is refused with a clear error, and what was served stays as it was."""
    served = Route(key="busy", hosts=("busy.localhost",), upstream=apps[0])
    backend.publish(served)
    throttled = Route(key="busy", hosts=("busy.localhost",), upstream=apps[0], rate_limit=RateLimit(average=2))
    with pytest.raises(CaddyUnsupported, match=r"no rate limiter.*TENANTRY_ROUTING=traefik"):
        backend.publish(throttled)
    assert backend.published() == {"busy": served}
    # the edge is never limited: a route to the edge ignores a limit on every backend
    backend.publish(Route(key="busy", hosts=("busy.localhost",), rate_limit=RateLimit(average=2)))
    assert backend.current("busy") == Route(key="busy", hosts=("busy.localhost",))


def test_tls_is_refused_with_a_clear_message(caddy, backend, settings):
    from django.core.management.base import CommandError

    from tenantry.core.management.commands.up import write_caddy_config

    settings.TENANTRY = {**settings.TENANTRY, "TLS": {"https_address": "127.0.0.1:8443", "ca": "staging"}}
    with pytest.raises(CaddyUnsupported, match=r"TLS.*does not obtain certificates"):
        backend.publish(Route(key="tls", hosts=("tls.localhost",)))
    with pytest.raises(CommandError, match=r"TLS.*TENANTRY_ROUTING=traefik"):
        write_caddy_config()
    assert backend.published() == {}


def test_duplicate_routes_of_one_key_are_healed(caddy, backend, apps):
    """Two processes adding one new key at once can both insert it (Caddy accepts two routes
    with one @id); published() drops both so that sync() publishes it once again."""
    route = Route(key="twice", hosts=("twice.localhost",), upstream=apps[0])
    document = backend.render(route)
    for _ in range(2):
        caddy.session.put(f"{caddy.admin_url}/config/apps/http/servers/tenantry/routes/0", json=document,
                          timeout=5).raise_for_status()
    assert backend.published() == {}
    backend.sync([route])
    assert backend.published() == {"twice": route}
    routes = caddy.session.get(f"{caddy.admin_url}/config/apps/http/servers/tenantry/routes", timeout=5).json()
    assert [r.get("@id") for r in routes].count("i-twice") == 1


def test_without_caddy_publish_says_so():
    backend = CaddyRouting(admin_url="http://127.0.0.1:9", edge_url="http://127.0.0.1:9", edge_secret="s")
    with pytest.raises(TransientBackendError, match=r"admin API at http://127\.0\.0\.1:9 did not answer"):
        backend.publish(Route(key="x", hosts=("x.localhost",)))


def test_the_admin_api_stays_on_loopback_and_keys_stay_plain():
    with pytest.raises(BackendError, match="loopback"):
        initial_config(listen="0.0.0.0:80", admin="0.0.0.0:2019")
    backend = CaddyRouting(admin_url="http://127.0.0.1:9", edge_url="http://127.0.0.1:9", edge_secret="s")
    with pytest.raises(BackendError, match="letters, digits"):
        backend.render(Route(key="../config", hosts=("x.localhost",)))
    braced = CaddyRouting(admin_url="http://127.0.0.1:9", edge_url="http://127.0.0.1:9", edge_secret="a{http.vars}b")
    with pytest.raises(BackendError, match="placeholder"):
        braced.render(Route(key="k", hosts=("x.localhost",)))


def test_concurrent_publishes_neither_double_nor_lose_a_route(caddy, backend, apps):
    """Issue 15: Caddy resolves `/id/…` to the route's index in the array, then applies the change
    there once its configuration lock is free. An insert at the front meanwhile shifts every
    index by one: the PATCH then overwrote a neighbour, so one key was in twice and another gone
    (1,000 instances created 8 at once: 117 keys doubled, ~200 lost). Route changes from one
    installation now go to Caddy one at a time."""
    keys = [f"c{thread}-{n}" for thread in range(8) for n in range(6)]

    def publish_twice(prefix: str) -> None:
        for key in (k for k in keys if k.startswith(prefix + "-")):
            backend.publish(Route(key=key, hosts=(f"{key}.localhost",), upstream=apps[0]))  # new: inserted
            backend.publish(Route(key=key, hosts=(f"{key}.localhost",), upstream=apps[1]))  # known: replaced

    threads = [threading.Thread(target=publish_twice, args=(f"c{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    routes = caddy.session.get(f"{caddy.admin_url}/config/apps/http/servers/tenantry/routes", timeout=5).json()
    ours = {f"i-{k}" for k in keys}
    assert sorted(r["@id"] for r in routes if r.get("@id") in ours) == sorted(ours)  # each once
    assert backend.published() == {k: Route(key=k, hosts=(f"{k}.localhost",), upstream=apps[1]) for k in keys}
