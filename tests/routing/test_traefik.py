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
