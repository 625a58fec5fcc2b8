"""What is Traefik's own in its routing backend (the contract both proxies keep, against a real
Traefik and a real Caddy, is in test_routing_contract.py)."""

from __future__ import annotations

import pytest
import yaml

from tenantry.routing.backends.base import Route
from tenantry.routing.registry import routing


def test_wait_applied_returns_at_once_without_traefik(tmp_path):
    from tenantry.routing.backends.traefik import TraefikRouting

    backend = TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9",
                             api_url="http://127.0.0.1:9")
    route = Route(key="x", hosts=("x.localhost",), upstream="http://127.0.0.1:9")
    backend.publish(route)
    assert backend.wait_applied(route) is False
    assert backend.published() == {"x": route}
    backend.unpublish("x")
    assert backend.wait_removed("x") is False
    assert backend.published() == {}


@pytest.mark.django_db(transaction=True)
def test_routes_live_in_shards_read_from_their_headers_and_older_files_are_moved_in(edge, upstreams,
                                                                                    monkeypatch):
    """Issue 15: Traefik re-reads (and renders as a template) every file at each change, so routes
    are kept in a fixed number of shard files, each route's JSON on a comment line of its own
    (published() never parses YAML). Files of the layouts before (one per route, with or without
    that header) are still served and read, reported outdated, and moved into their shard when
    the reconciler publishes them again."""
    from tenantry.core.backends import reset_backends
    from tenantry.routing.backends.base import RateLimit
    from tenantry.routing.backends.traefik_files import SHARD_COUNT, shard_name

    dynamic = edge.directory / "dynamic"
    backend = routing()
    limited = Route(key="hdr1", hosts=("hdr1.localhost", "www.hdr1.example"), upstream=upstreams[0],
                    rate_limit=RateLimit(average=50, period_seconds=2, burst=30))
    parked = Route(key="hdr2", hosts=("hdr2.localhost",))
    many = [Route(key=f"many{n}", hosts=(f"many{n}.localhost",), upstream=upstreams[1]) for n in range(150)]
    for route in (limited, parked, *many):
        backend.publish(route)
    assert backend.wait_applied(limited) and backend.wait_applied(parked) and backend.wait_applied(many[-1])
    assert edge.get("hdr1.localhost").status_code == 200 and edge.get("many7.localhost").status_code == 200
    shards = sorted(p.name for p in dynamic.glob("routes-*.yml"))
    assert 1 < len(shards) <= SHARD_COUNT and not list(dynamic.glob("route-*.yml"))  # 152 routes, few files
    assert shard_name("hdr1") in shards

    # The layouts before: one file per route, with a header line (hdr1) or without (hdr2).
    parsed: list[object] = []
    load = yaml.load
    monkeypatch.setattr(yaml, "load", lambda *a, **k: (parsed.append(a), load(*a, **k))[1])
    # Each removal is seen applied before its old file goes in: otherwise the checks below could
    # pass on the state before the removal, with Traefik still to apply it (seen under load in CI).
    for route in (limited, parked):
        document = {"http": backend._document(route)["http"]}  # type: ignore[attr-defined]
        backend.unpublish(route.key)
        assert backend.wait_removed(route.key)
        header = ('# tenantry-route: {"hosts":["hdr1.localhost","www.hdr1.example"],'
                  f'"upstream":"{upstreams[0]}","rate_limit":[50,2,30]}}\n') if route is limited else ""
        written = dynamic.parent / f"route-{route.key}.yml"  # renamed in, as Tenantry wrote them
        written.write_text(header + yaml.safe_dump(document))
        written.replace(dynamic / written.name)
    assert backend.wait_applied(limited) and backend.wait_applied(parked)  # Traefik serves the old files
    assert edge.wait_until("hdr1.localhost", lambda r: r.status_code == 200).status_code == 200

    def new_process_backend():
        reset_backends()
        return routing()

    reading = new_process_backend()
    assert reading.published() == {"hdr1": limited, "hdr2": parked, **{r.key: r for r in many}}
    assert len(parsed) == 1 and reading.outdated() == {"hdr1", "hdr2"}  # only the file without a header parsed
    assert reading.current("hdr2") == parked
    for route in (limited, parked):
        reading.publish(route)  # what the reconciler does with an outdated one
        assert not (dynamic / f"route-{route.key}.yml").exists()
        assert reading.wait_applied(route)
    assert edge.get("hdr1.localhost").status_code == 200

    parsed.clear()
    reading = new_process_backend()
    assert reading.published() == {"hdr1": limited, "hdr2": parked, **{r.key: r for r in many}}
    assert parsed == [] and reading.outdated() == set()
    for key in ("hdr1", "hdr2", *(r.key for r in many)):
        reading.unpublish(key)
    assert reading.published() == {} and not list(dynamic.glob("routes-*.yml"))  # empty shards removed


def test_concurrent_writers_of_the_same_shards_lose_no_route(tmp_path):
    """Each shard is read, changed and written back under a lock: 8 threads publishing and
    removing routes that share shards end with exactly the routes they left."""
    from concurrent.futures import ThreadPoolExecutor

    from tenantry.routing.backends.traefik import TraefikRouting
    from tenantry.routing.backends.traefik_files import SHARD_COUNT

    def backend():  # each thread its own backend object, as separate processes would have
        return TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9", edge_secret="s",
                              tls=False, base_domain="localhost")

    def work(thread: int) -> None:
        mine = backend()
        for n in range(40):
            mine.publish(Route(key=f"t{thread}-{n}", hosts=(f"t{thread}-{n}.localhost",),
                               upstream=f"http://10.9.{thread}.{n + 2}:80"))
        for n in range(0, 40, 4):
            mine.unpublish(f"t{thread}-{n}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    expected = {f"t{thread}-{n}" for thread in range(8) for n in range(40) if n % 4}
    assert set(backend().published()) == expected
    shards = list((tmp_path / "dyn").glob("routes-*.yml"))
    assert len(shards) <= SHARD_COUNT
    # what Traefik reads agrees with the headers: every router once, none of the removed ones
    routers = set()
    for shard in shards:
        routers |= set(yaml.safe_load(shard.read_text())["http"]["routers"])
    assert routers == {f"i-{key}" for key in expected}
