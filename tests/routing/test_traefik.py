"""The Traefik routing backend against a real Traefik."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from tenantry.routing.backends.base import Route
from tenantry.routing.registry import routing

pytestmark = [pytest.mark.traefik]


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"upstream {self.server.server_port} saw {self.headers['Host']}{self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def upstreams():
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Upstream) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{s.server_port}" for s in servers]
    for server in servers:
        server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_publish_switch_and_unpublish(edge, upstreams):
    backend = routing()
    route = Route(key="r1", hosts=("r1.localhost", "www.r1.example"), upstream=upstreams[0])
    backend.publish(route)
    assert backend.wait_applied(route)
    answer = edge.get("r1.localhost", "/some/path?q=1")
    assert answer.status_code == 200
    assert answer.text == f"upstream {upstreams[0].rsplit(':', 1)[1]} saw r1.localhost/some/path?q=1"
    assert edge.get("www.r1.example").status_code == 200  # every host of the route
    assert backend.published() == {"r1": route}
    # `/_tenantry/…` on the app's address stays the control plane's, even while the app serves
    reserved = edge.get("r1.localhost", "/_tenantry/login")
    assert reserved.status_code == 404 and "upstream" not in reserved.text  # answered by the control plane

    moved = Route(key="r1", hosts=("r1.localhost",), upstream=upstreams[1])
    backend.publish(moved)
    assert backend.wait_applied(moved)
    assert edge.get("r1.localhost").text.startswith(f"upstream {upstreams[1].rsplit(':', 1)[1]}")

    # to the edge: the control plane answers (here: no such instance in the database)
    parked = Route(key="00000000-0000-0000-0000-000000000001", hosts=("r2.localhost",))
    backend.publish(parked)
    assert backend.wait_applied(parked)
    page = edge.get("r2.localhost", "/deep/link")
    assert page.status_code == 404 and page.headers["X-Tenantry-State"] == "missing"

    backend.unpublish("r1")
    backend.unpublish("r1")  # already gone: fine
    edge.wait_until("r1.localhost", lambda r: r.status_code == 404, what="Traefik's 404")
    assert "r1" not in backend.published()

    # files are renamed into place: nothing half-written is ever in the watched directory
    names = sorted(p.name for p in (edge.directory / "dynamic").iterdir())
    assert names == ["_tenantry.yml", f"route-{parked.key}.yml"]
    document = yaml.safe_load((edge.directory / "dynamic" / f"route-{parked.key}.yml").read_text())
    assert document["http"]["middlewares"][f"i-{parked.key}-edge"]["addPrefix"]["prefix"] == f"/_edge/{parked.key}"
    backend.unpublish(parked.key)


@pytest.mark.django_db(transaction=True)
def test_sync_makes_the_published_set_exact(edge, upstreams):
    backend = routing()
    backend.publish(Route(key="stale", hosts=("stale.localhost",), upstream=upstreams[0]))
    wanted = [Route(key="a", hosts=("a.localhost",), upstream=upstreams[0]),
              Route(key="b", hosts=("b.localhost",), upstream=upstreams[1])]
    backend.sync(wanted)
    assert backend.published() == {r.key: r for r in wanted}
    for route in wanted:
        assert backend.wait_applied(route)
    backend.sync([])
    assert backend.published() == {}


@pytest.mark.django_db(transaction=True)
def test_unpublish_can_wait_until_the_proxy_no_longer_serves_the_route(edge, upstreams):
    backend = routing()
    for number in range(5):
        route = Route(key=f"gone{number}", hosts=(f"gone{number}.localhost",), upstream=upstreams[0])
        backend.publish(route)
        assert backend.wait_applied(route)
        assert edge.get(route.hosts[0]).status_code == 200
        backend.unpublish(route.key)
        assert backend.wait_removed(route.key)
        # at once, without polling: removed means no longer served
        assert edge.get(route.hosts[0]).status_code == 404
    assert backend.wait_removed("never-published")


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
def test_route_files_are_read_from_their_header_and_older_ones_parsed_until_written_again(edge, upstreams,
                                                                                          monkeypatch):
    """Issue 15: published() in a new process (every `tenantry reconcile`) parsed the YAML of
    every route file. Each file now starts with the Route it was written from (a comment for
    Traefik); a file written before that is parsed, and reported outdated so that the
    reconciler writes it once more."""
    from tenantry.core.backends import reset_backends
    from tenantry.routing.backends.base import RateLimit

    backend = routing()
    limited = Route(key="hdr1", hosts=("hdr1.localhost", "www.hdr1.example"), upstream=upstreams[0],
                    rate_limit=RateLimit(average=50, period_seconds=2, burst=30))
    parked = Route(key="hdr2", hosts=("hdr2.localhost",))
    for route in (limited, parked):
        backend.publish(route)
    assert backend.wait_applied(limited) and backend.wait_applied(parked)
    assert edge.get("hdr1.localhost").status_code == 200  # the header line is only a comment to Traefik
    older = edge.directory / "dynamic" / "route-hdr2.yml"
    header, body = older.read_text().split("\n", 1)
    assert header.startswith("# tenantry-route: ")
    older.write_text(body)  # as written before the header existed
    parsed: list[object] = []
    load = yaml.load
    monkeypatch.setattr(yaml, "load", lambda *a, **k: (parsed.append(a), load(*a, **k))[1])

    def new_process_backend():
        reset_backends()
        return routing()

    reading = new_process_backend()
    assert reading.published() == {"hdr1": limited, "hdr2": parked}
    assert len(parsed) == 1 and reading.outdated() == {"hdr2"}
    reading.publish(parked)  # what the reconciler does with an outdated one
    assert older.read_text().startswith("# tenantry-route: ")

    parsed.clear()
    reading = new_process_backend()
    assert reading.published() == {"hdr1": limited, "hdr2": parked}
    assert parsed == [] and reading.outdated() == set()
    for key in ("hdr1", "hdr2"):
        reading.unpublish(key)
