"""What is Traefik's own in its routing backend (the contract both proxies keep, against a real
Traefik and a real Caddy, is in test_routing_contract.py)."""

from __future__ import annotations

from tenantry.routing.backends.base import Route


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
