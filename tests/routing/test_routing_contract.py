"""The routing contract against every proxy Tenantry drives: a real Traefik and a real Caddy
(the `proxy` fixture, tests/routing/conftest.py), through the same RoutingBackend calls."""

from __future__ import annotations

import pytest
import yaml

from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER, Route
from tenantry.routing.registry import routing

pytestmark = [pytest.mark.traefik, pytest.mark.caddy]


@pytest.mark.django_db(transaction=True)
def test_publish_switch_and_unpublish(proxy, upstreams):
    backend = routing()
    route = Route(key="r1", hosts=("r1.localhost", "www.r1.example"), upstream=upstreams[0])
    backend.publish(route)
    assert backend.wait_applied(route)
    answer = proxy.get("r1.localhost", "/some/path?q=1")
    assert answer.status_code == 200
    assert answer.text == f"upstream {upstreams[0].rsplit(':', 1)[1]} saw r1.localhost/some/path?q=1"
    assert proxy.get("www.r1.example").status_code == 200  # every host of the route
    assert backend.published() == {"r1": route}
    assert backend.current("r1") == route and backend.current("nothing") is None
    # `/_tenantry/…` on the app's address stays the control plane's, even while the app serves
    reserved = proxy.get("r1.localhost", "/_tenantry/login")
    assert reserved.status_code == 404 and "upstream" not in reserved.text  # answered by the control plane

    moved = Route(key="r1", hosts=("r1.localhost",), upstream=upstreams[1])
    backend.publish(moved)
    assert backend.wait_applied(moved)
    assert proxy.get("r1.localhost").text.startswith(f"upstream {upstreams[1].rsplit(':', 1)[1]}")
    assert proxy.get("www.r1.example").status_code == 404  # the host it no longer has

    # to the edge: the control plane answers (here: no such instance in the database)
    parked = Route(key="00000000-0000-0000-0000-000000000001", hosts=("r2.localhost",))
    backend.publish(parked)
    assert backend.wait_applied(parked)
    page = proxy.get("r2.localhost", "/deep/link")
    assert page.status_code == 404 and page.headers["X-Tenantry-State"] == "missing"
    assert backend.published() == {"r1": moved, parked.key: parked}

    backend.unpublish("r1")
    backend.unpublish("r1")  # already gone: fine
    proxy.wait_until("r1.localhost", lambda r: r.status_code == 404, what="the proxy's 404")
    assert "r1" not in backend.published()

    if proxy.kind == "traefik":
        from tenantry.routing.backends.traefik_files import shard_name

        # files are renamed into place: nothing half-written is ever in the watched directory
        names = sorted(p.name for p in (proxy.directory / "dynamic").iterdir())
        assert names == ["_tenantry.yml", shard_name(parked.key)]
        document = yaml.safe_load((proxy.directory / "dynamic" / shard_name(parked.key)).read_text())
        assert document["http"]["middlewares"][f"i-{parked.key}-edge"]["addPrefix"]["prefix"] == \
            f"/_edge/{parked.key}"
    backend.unpublish(parked.key)


@pytest.mark.django_db(transaction=True)
def test_the_edge_gets_the_credential_and_the_instance_prefix(proxy, upstreams, settings):
    """What the edge receives, read by a stand-in edge: the proxy's credential (whatever the
    visitor sent under that name), the path prefixed with /_edge/<key>, query and escaping kept."""
    from tenantry.core.backends import reset_backends

    settings.TENANTRY = {**settings.TENANTRY, "EDGE_URL": upstreams[1], "EDGE_SECRET": "proxy-only-s3cret"}
    reset_backends()
    backend = routing()
    if proxy.kind == "traefik":
        backend.ensure_base()
    parked = Route(key="k-1", hosts=("parked.localhost",))
    serving = Route(key="k-2", hosts=("serving.localhost",), upstream=upstreams[0])
    for route in (parked, serving):
        backend.publish(route)
        assert backend.wait_applied(route)
    port = upstreams[1].rsplit(":", 1)[1]

    def seen(host, path):
        return proxy.wait_until(host, lambda r: r.status_code == 200 and f"upstream {port}" in r.text, path=path,
                                what="the stand-in edge", timeout=10).text

    # (Traefik reloads its base file, with this edge, on its own time: polled)
    assert seen("parked.localhost", "/") == f"upstream {port} saw parked.localhost/_edge/k-1/ key=proxy-only-s3cret"
    forged = {EDGE_CREDENTIAL_HEADER: "visitor-made"}
    assert proxy.get("parked.localhost", "/a/b?x=1&y=%2F", headers=forged).text == \
        f"upstream {port} saw parked.localhost/_edge/k-1/a/b?x=1&y=%2F key=proxy-only-s3cret"
    assert seen("parked.localhost", "/caf%C3%A9%20x") == \
        f"upstream {port} saw parked.localhost/_edge/k-1/caf%C3%A9%20x key=proxy-only-s3cret"
    assert proxy.get("parked.localhost", "/a%2Fb%3Fc").text == \
        f"upstream {port} saw parked.localhost/_edge/k-1/a%2Fb%3Fc key=proxy-only-s3cret"
    # (Traefik: one router in its base file for every instance host, and the edge finds the instance by host)
    reserved = "by-host" if proxy.kind == "traefik" else "k-2"
    assert seen("serving.localhost", "/_tenantry/login?ticket=t") == \
        f"upstream {port} saw serving.localhost/_edge/{reserved}/_tenantry/login?ticket=t key=proxy-only-s3cret"
    # the app itself never gets the credential, even when a visitor sends one
    assert proxy.get("serving.localhost", "/x", headers=forged).text == \
        f"upstream {upstreams[0].rsplit(':', 1)[1]} saw serving.localhost/x key=visitor-made"
    backend.sync([])
    reset_backends()


@pytest.mark.django_db(transaction=True)
def test_sync_makes_the_published_set_exact(proxy, upstreams):
    backend = routing()
    backend.publish(Route(key="stale", hosts=("stale.localhost",), upstream=upstreams[0]))
    wanted = [Route(key="a", hosts=("a.localhost",), upstream=upstreams[0]),
              Route(key="b", hosts=("b.localhost",), upstream=upstreams[1])]
    backend.sync(wanted)
    assert backend.published() == {r.key: r for r in wanted}
    for route in wanted:
        assert backend.wait_applied(route)
        assert proxy.get(route.hosts[0]).text.startswith(f"upstream {route.upstream.rsplit(':', 1)[1]}")
    assert proxy.get("stale.localhost").status_code == 404
    backend.sync([])
    assert backend.published() == {}


@pytest.mark.django_db(transaction=True)
def test_unpublish_can_wait_until_the_proxy_no_longer_serves_the_route(proxy, upstreams):
    backend = routing()
    for number in range(5):
        route = Route(key=f"gone{number}", hosts=(f"gone{number}.localhost",), upstream=upstreams[0])
        backend.publish(route)
        assert backend.wait_applied(route)
        assert proxy.get(route.hosts[0]).status_code == 200
        backend.unpublish(route.key)
        assert backend.wait_removed(route.key)
        # at once, without polling: removed means no longer served
        assert proxy.get(route.hosts[0]).status_code == 404
    assert backend.wait_removed("never-published")
