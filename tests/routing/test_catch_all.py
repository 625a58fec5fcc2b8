"""Traefik's catch-all for instance hosts without a route of their own (issue 15): a new
instance's address reaches the edge, which finds the instance by its host, so provisioning
changes Traefik's routes once (when the app serves) instead of twice."""

from __future__ import annotations

import pytest
import requests

from tenantry.instances import services
from tenantry.instances.models import Status
from tenantry.routing.backends.base import Route
from tenantry.routing.backends.traefik import UNROUTED_ROUTER, TraefikRouting
from tenantry.routing.backends.traefik_static import DNS_RESOLVER, TlsConfig
from tenantry.routing.registry import routing
from tests.instances.helpers import create, fresh

CREDENTIAL = "X-Tenantry-Edge-Key"


def _base(tmp_path, tls):
    import yaml

    backend = TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9", edge_secret="s",
                             tls=tls, base_domain="tenants.example.com")
    backend.ensure_base()
    document = yaml.safe_load((tmp_path / "dyn" / "_tenantry.yml").read_text())
    return backend, document["http"].get("routers", {}).get(UNROUTED_ROUTER)


def test_the_catch_all_covers_one_label_under_the_base_domain_and_needs_a_wildcard_under_tls(tmp_path):
    backend, router = _base(tmp_path / "plain", False)
    assert router["rule"] == r"HostRegexp(`^[a-z0-9-]+\.tenants\.example\.com$`)"
    assert router["priority"] == 1 and router["service"] == "tenantry-edge"
    assert router["middlewares"] == ["tenantry-edge-credential", "tenantry-unrouted-edge"]
    assert backend.serves_unrouted(("shop.tenants.example.com",))
    for hosts in [("a.b.tenants.example.com",), ("shop.example.org",), ("shop.tenants.example.com", "shop.example.org"),
                  ("tenants.example.com",), ()]:
        assert not backend.serves_unrouted(hosts), hosts

    # HTTP-01: a certificate is asked per host, by a route naming it; no catch-all then
    http01 = TlsConfig(https_address="127.0.0.1:8443", email="ops@example.com", ca="staging")
    backend, router = _base(tmp_path / "http01", http01)
    assert router is None and not backend.serves_unrouted(("shop.tenants.example.com",))

    # DNS-01: the wildcard certificate covers every instance host, the catch-all included
    dns01 = TlsConfig(https_address="127.0.0.1:8443", email="ops@example.com", ca="staging", challenge="dns",
                      dns_provider="exec")
    backend, router = _base(tmp_path / "dns01", dns01)
    assert router["tls"] == {"certResolver": DNS_RESOLVER, "domains": [{"main": "*.tenants.example.com"}]}
    assert router["entryPoints"] == ["websecure"] and router["middlewares"][0] == "tenantry-hsts"
    assert backend.serves_unrouted(("shop.tenants.example.com",))


def test_a_changed_base_is_not_trusted_to_be_in_force_yet(tmp_path):
    backend = TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9", edge_secret="s",
                             tls=False, base_domain="localhost")
    assert not backend.serves_unrouted(("shop.localhost",))  # written just now: Traefik may not have it
    assert backend.serves_unrouted(("shop.localhost",))


@pytest.mark.docker
@pytest.mark.traefik
def test_provisioning_changes_the_proxy_once_and_the_address_reaches_the_edge_meanwhile(platform, monkeypatch):
    """Before: `route_to_edge` wrote a route file to the edge, then `publish_route` rewrote it to
    the app: two reloads of every route in Traefik per new instance."""
    published: list[Route] = []
    original = TraefikRouting.publish
    monkeypatch.setattr(TraefikRouting, "publish",
                        lambda self, route: (published.append(route), original(self, route))[1])
    routing().ensure_base()  # type: ignore[attr-defined]
    platform.wait_until("nobody-yet.localhost", lambda r: r.headers.get("X-Tenantry-State") == "missing",
                        what="the catch-all in force")

    instance, operation = create("catchall")
    assert instance.status == Status.RUNNING, operation.error_message
    assert [(r.key, r.upstream is not None) for r in published] == [(str(instance.id), True)]
    step = operation.steps.get(name="route_to_edge")
    assert "catch-all" in step.log
    assert platform.wait_for_body(instance.host, "Hello from catchall").status_code == 200

    # With its route gone, the address still reaches the edge, which finds the instance by host.
    services.instance_stop(instance=instance, actor="test")
    assert fresh(instance).status == Status.STOPPED
    backend = routing()
    backend.unpublish(str(instance.id))
    assert backend.wait_removed(str(instance.id))
    stopped = platform.get(instance.host, "/some/page")
    assert stopped.status_code == 503 and stopped.headers["X-Tenantry-State"] == "stopped"

    # No such instance: the edge's page; more than one label deep: not the catch-all's (Traefik's 404)
    missing = platform.get("no-such-slug.localhost")
    assert missing.status_code == 404 and missing.headers["X-Tenantry-State"] == "missing"
    deeper = platform.get(f"x.{instance.host}")
    assert deeper.status_code == 404 and "X-Tenantry-State" not in deeper.headers


@pytest.mark.docker
@pytest.mark.traefik
def test_the_edge_answers_by_host_only_for_the_proxy_and_an_instance_own_host(platform, settings):
    instance, operation = create("byhost")
    assert instance.status == Status.RUNNING, operation.error_message
    services.instance_stop(instance=instance, actor="test")
    session = requests.Session()
    session.trust_env = False
    url = f"{platform.edge_url}/_edge/by-host/page"
    secret = settings.TENANTRY["EDGE_SECRET"]

    def ask(host: str, credential: str | None = secret) -> requests.Response:
        headers = {"Host": host, **({CREDENTIAL: credential} if credential is not None else {})}
        return session.get(url, headers=headers, timeout=10)

    assert ask(f"{instance.host}:8880").headers["X-Tenantry-State"] == "stopped"
    assert ask(instance.host, credential=None).status_code == 404  # not from the proxy
    assert ask(instance.host, credential="forged").status_code == 404
    # host names are case-insensitive
    assert ask(f"BYHOST.{settings.TENANTRY['BASE_DOMAIN']}").headers["X-Tenantry-State"] == "stopped"
    for host in ("byhost.example.org", f"x.{instance.host}", "localhost", "byhost"):
        answer = ask(host)
        assert answer.status_code == 404 and answer.headers.get("X-Tenantry-State") == "missing", host


def test_a_running_instance_file_holds_one_router_and_one_service(tmp_path):
    """Before: every running instance's file also held a `/_tenantry/` router and its middleware,
    which Traefik parsed and built again at every reload of every route."""
    import yaml

    backend = TraefikRouting(directory=str(tmp_path / "dyn"), edge_url="http://127.0.0.1:9", edge_secret="s",
                             tls=False, base_domain="localhost")

    def document(route: Route) -> dict:
        """What the route's shard holds of this route."""
        from tenantry.routing.backends.traefik_files import shard_name

        backend.publish(route)
        http = yaml.safe_load((tmp_path / "dyn" / shard_name(route.key)).read_text())["http"]
        return {section: {name: item for name, item in items.items() if name.startswith(f"i-{route.key}")}
                for section, items in http.items()
                if any(name.startswith(f"i-{route.key}") for name in items)}

    own = document(Route(key="k1", hosts=("shop.localhost",), upstream="http://10.0.0.2:80"))
    assert list(own["routers"]) == ["i-k1"] and list(own["services"]) == ["i-k1"] and "middlewares" not in own
    # a customer's own domain is not covered by the base file's router: its `/_tenantry/` stays here
    both = document(Route(key="k2", hosts=("shop2.localhost", "shop.example.org"), upstream="http://10.0.0.3:80"))
    assert both["routers"]["i-k2-tenantry"]["rule"] == "(Host(`shop.example.org`)) && PathPrefix(`/_tenantry/`)"
    assert both["middlewares"] == {"i-k2-edge": {"addPrefix": {"prefix": "/_edge/k2"}}}
    assert backend.published()["k2"].hosts == ("shop2.localhost", "shop.example.org")


@pytest.mark.docker
@pytest.mark.traefik
def test_reserved_paths_reach_the_edge_on_instance_hosts_and_custom_domains_while_the_app_serves(platform):
    instance, operation = create("reserved")
    assert instance.status == Status.RUNNING, operation.error_message
    assert platform.wait_for_body(instance.host, "Hello from reserved").status_code == 200
    refused = platform.get(instance.host, "/_tenantry/login?ticket=not-a-ticket")
    assert refused.status_code == 403 and refused.headers["X-Tenantry-State"] == "login-refused"
    assert "Hello from" not in refused.text

    backend = routing()
    route = backend.current(str(instance.id))
    with_domain = Route(key=route.key, hosts=(*route.hosts, "reserved.example.org"), upstream=route.upstream)
    backend.publish(with_domain)
    assert backend.wait_applied(with_domain)
    assert "Hello from reserved" in platform.get("reserved.example.org").text
    # (not a verified domain of the instance: the edge refuses it, but it is the edge that answers)
    reserved = platform.get("reserved.example.org", "/_tenantry/login?ticket=x")
    assert reserved.status_code == 404 and reserved.headers["X-Tenantry-State"] == "missing"
