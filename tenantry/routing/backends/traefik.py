"""Traefik v3 through its file provider: routes in a fixed number of shard files
(tenantry/routing/backends/traefik_files.py: Traefik re-reads every file at each change).

Files are written elsewhere and renamed into the watched directory, so Traefik never reads a
half-written file. A shared `_tenantry.yml` defines the edge service (Tenantry's edge listener)
and the middleware that adds the proxy-only credential the edge requires; every router whose
service is the edge uses it, then an `addPrefix` middleware that tells the edge which instance
the visitor asked for.

The base file also holds a catch-all router, lowest in priority, for every `<label>.<base
domain>` without a route of its own: it sends the visitor to the edge, which finds the instance
by its host (`/_edge/by-host/…`). A new instance's address therefore shows the status page with
no route of its own until its app serves: one reload of Traefik per provisioning instead of two
(each reload re-reads every route, so at 1,000 instances that halves the proxy's work).
Under TLS it exists only with the wildcard certificate (DNS-01): an HTTP-01 certificate is
obtained per host, which only a route naming the host asks for.

Likewise one router of highest priority sends `/_tenantry/…` on any instance host to the edge (by
host), so a running instance's route is one router and one service: a router and a middleware
fewer for Traefik to parse and build at every reload. Only a customer's own domains (which no
pattern of ours covers) keep a `/_tenantry/` router in the instance's route.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import requests

from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER, RateLimit, Route, RoutingBackend
from tenantry.routing.backends.traefik_dashboard import dashboard_http, dashboard_settings
from tenantry.routing.backends.traefik_default_cert import default_certificate_tls
from tenantry.routing.backends.traefik_files import RouteFiles, dump, load, replace_file
from tenantry.routing.backends.traefik_static import (
    DNS_RESOLVER,
    HTTP_RESOLVER,
    WEB,
    WEBSECURE,
    TlsConfig,
    static_config,
    tls_config_from_settings,
)

__all__ = ["TraefikRouting", "static_config"]

BASE_FILE = "_tenantry.yml"
EDGE_SERVICE = "tenantry-edge"
EDGE_CREDENTIAL_MIDDLEWARE = "tenantry-edge-credential"
UNROUTED_ROUTER = "tenantry-unrouted"
RESERVED_ROUTER = "tenantry-reserved-paths"
# Above any instance's router (Traefik's default priority is the rule's length).
_RESERVED_PRIORITY = 1_000_000
UNROUTED_PREFIX_MIDDLEWARE = "tenantry-unrouted-edge"
# The edge's path for a visitor whose host has no route of its own (tenantry.edge.app).
UNROUTED_EDGE_PREFIX = "/_edge/by-host"
HSTS_MIDDLEWARE = "tenantry-hsts"


class TraefikRouting(RoutingBackend):
    reports_activity = True  # its JSON access log names each request's router (instances/hibernation.py)

    def __init__(self, *, alias: str = "default", directory: str, edge_url: str | None = None,
                 api_url: str | None = None, entrypoint: str = WEB, edge_secret: str | None = None,
                 tls: TlsConfig | bool | None = None, base_domain: str | None = None, **options: object):
        super().__init__(alias=alias)
        self._api_url = api_url
        self._edge_secret = edge_secret
        self.directory = Path(directory)
        # Written into the same filesystem as the watched directory so rename() is atomic.
        self.staging = self.directory.parent / (self.directory.name + ".staging")
        self._edge_url = edge_url
        self._entrypoint = entrypoint
        # None: follow settings (TENANTRY["TLS"]); False: plain HTTP whatever the settings say.
        self._tls = tls
        self._base_domain = base_domain
        self._default_cert_tls: dict[str, Any] | None = None
        self.files = RouteFiles(self.directory, self.staging, lambda route: self._document(route)["http"],
                                self._parse_legacy)

    @property
    def tls(self) -> TlsConfig | None:
        if self._tls is None or self._tls is True:
            return tls_config_from_settings()
        return self._tls or None

    @property
    def entrypoint(self) -> str:
        return WEBSECURE if self.tls else self._entrypoint

    @property
    def base_domain(self) -> str:
        if self._base_domain:
            return self._base_domain
        from django.conf import settings

        return settings.TENANTRY["BASE_DOMAIN"]

    @property
    def api_url(self) -> str:
        if self._api_url:
            return self._api_url
        from django.conf import settings

        return f"http://127.0.0.1:{settings.TENANTRY['PROXY_INTERNAL_PORT']}"

    # --- files ----------------------------------------------------------------------------------
    def _write(self, name: str, document: dict[str, Any], *, mode: int = 0o644) -> bool:
        """Put the document in place; False when the file already said exactly that."""
        return replace_file(self.directory, self.staging, name, dump(document), mode=mode)

    def _default_certificate_tls(self) -> dict[str, Any]:
        if self._default_cert_tls is None:  # read once: ensure_base runs at every publish
            self._default_cert_tls = default_certificate_tls(self.directory.parent)
        return self._default_cert_tls

    def ensure_base(self) -> bool:
        """Write the shared file (edge service, credential, dashboard, catch-all); True when it
        changed, i.e. Traefik has yet to load it."""
        document: dict[str, Any] = {
            "http": {
                "services": {EDGE_SERVICE: {"loadBalancer": {"servers": [{"url": self.edge_url}]}}},
                # Set by the proxy (replacing whatever a visitor sent under that name): the edge
                # answers only requests that carry it.
                "middlewares": {EDGE_CREDENTIAL_MIDDLEWARE: {
                    "headers": {"customRequestHeaders": {EDGE_CREDENTIAL_HEADER: self.edge_secret}}}},
            }
        }
        # Without it Traefik makes a new RSA key at every change (traefik_default_cert.py).
        document["tls"] = self._default_certificate_tls()
        tls = self.tls
        if tls:
            # Browsers keep to https for the instance's host once they have seen it. Not
            # includeSubDomains: a customer's own domain decides for its other hosts.
            document["http"]["middlewares"][HSTS_MIDDLEWARE] = {"headers": {"stsSeconds": tls.hsts_seconds}}
        # The dashboard on the operator's own domain (TENANTRY_DASHBOARD_URL), when the proxy serves it.
        dashboard = dashboard_settings()
        if dashboard:
            extra = dashboard_http(host=dashboard["host"], upstream=dashboard["upstream"],
                                   entrypoint=self.entrypoint, tls=tls, hsts_middleware=HSTS_MIDDLEWARE)
            document["http"]["routers"] = extra["routers"]
            document["http"]["services"].update(extra["services"])
        self._add_shared_edge_routers(document["http"], tls)
        return self._write(BASE_FILE, document, mode=0o600)  # holds the edge credential; unchanged: not rewritten

    def _has_catch_all(self) -> bool:
        tls = self.tls
        return tls is None or tls.wildcard

    def _add_shared_edge_routers(self, http: dict[str, Any], tls: TlsConfig | None) -> None:
        """The routers to the edge that no instance needs a copy of: `/_tenantry/…` on every
        instance host, and the catch-all for instance hosts without a route (see above)."""
        instance_host = "HostRegexp(`^[a-z0-9-]+\\." + self.base_domain.replace(".", "\\.") + "$`)"  # Go's regexp

        def to_edge(rule: str, priority: int) -> dict[str, Any]:
            # (new lists for each router: the YAML dumper would write shared ones as anchors)
            router: dict[str, Any] = {
                "rule": rule, "priority": priority, "entryPoints": [self.entrypoint], "service": EDGE_SERVICE,
                "middlewares": [*([HSTS_MIDDLEWARE] if tls else []), EDGE_CREDENTIAL_MIDDLEWARE,
                                UNROUTED_PREFIX_MIDDLEWARE]}
            if tls:  # the wildcard certificate; with HTTP-01, the one the instance's own route obtained
                router["tls"] = ({"certResolver": DNS_RESOLVER, "domains": [{"main": f"*.{self.base_domain}"}]}
                                 if tls.wildcard else {})
            return router

        routers = http.setdefault("routers", {})
        routers[RESERVED_ROUTER] = to_edge(f"{instance_host} && PathPrefix(`/_tenantry/`)", _RESERVED_PRIORITY)
        if self._has_catch_all():
            # Lowest priority: any router naming the host (an instance's, the dashboard's) wins.
            routers[UNROUTED_ROUTER] = to_edge(instance_host, 1)
        http["middlewares"][UNROUTED_PREFIX_MIDDLEWARE] = {"addPrefix": {"prefix": UNROUTED_EDGE_PREFIX}}

    def _is_instance_host(self, host: str) -> bool:
        """One label under the base domain: what the shared routers match."""
        suffix = f".{self.base_domain}"
        return host.endswith(suffix) and re.fullmatch(r"[a-z0-9-]+", host[: -len(suffix)]) is not None

    def serves_unrouted(self, hosts: tuple[str, ...]) -> bool:
        """The catch-all sends these hosts to the edge without a route of their own: each is an
        instance host (one label under the base domain), and the catch-all is in force (not
        just written: then Traefik may not have read it yet, and a route of its own is safer)."""
        if not hosts or not self._has_catch_all() or self.ensure_base():
            return False
        return all(self._is_instance_host(host) for host in hosts)

    @staticmethod
    def router_name(key: str) -> str:
        return f"i-{key}"

    @staticmethod
    def key_from_router(router_name: str) -> str | None:
        """Access-log RouterName (`i-<key>@file`) back to the route key."""
        name = router_name.split("@", 1)[0]
        return name[2:] if name.startswith("i-") else None

    def _document(self, route: Route) -> dict[str, Any]:
        name = self.router_name(route.key)
        rule = _host_rule(route.hosts)
        router: dict[str, Any] = {"rule": rule, "entryPoints": [self.entrypoint]}
        http: dict[str, Any] = {"routers": {name: router}}
        tls = self.tls
        # A customer's own domains, which the base file's shared routers do not cover.
        custom = [host for host in route.hosts if not self._is_instance_host(host)]
        if route.upstream:
            router["service"] = name
            router["middlewares"] = [HSTS_MIDDLEWARE] if tls else []
            if route.rate_limit:
                router["middlewares"].append(f"{name}-ratelimit")
            if not router["middlewares"]:
                del router["middlewares"]
            http["services"] = {name: {"loadBalancer": {"servers": [{"url": route.upstream}],
                                                        "passHostHeader": True}}}
            # `/_tenantry/…` on the instance's address stays Tenantry's even while the app serves
            # (signing the customer in to the app sets the app's cookie on its host): the base
            # file's router does it for instance hosts; a customer's domains need one here.
            if custom:
                http["routers"][f"{name}-tenantry"] = {
                    "rule": f"({_host_rule(custom)}) && PathPrefix(`/_tenantry/`)", "priority": _RESERVED_PRIORITY,
                    "entryPoints": [self.entrypoint], "service": EDGE_SERVICE,
                    "middlewares": self._edge_middlewares(name, tls)}
        else:
            router["service"] = EDGE_SERVICE
            router["middlewares"] = self._edge_middlewares(name, tls)
        middlewares: dict[str, Any] = {}
        if not route.upstream or custom:  # a router of this route goes to the edge (with this prefix)
            middlewares[f"{name}-edge"] = {"addPrefix": {"prefix": f"/_edge/{route.key}"}}
        if route.upstream and route.rate_limit:
            limit = route.rate_limit
            middlewares[f"{name}-ratelimit"] = {"rateLimit": {
                "average": limit.average, "period": f"{limit.period_seconds}s", "burst": limit.burst}}
        if middlewares:
            http["middlewares"] = middlewares
        if tls:
            self._add_tls(http, name, custom, tls)
        return {"http": http}

    def _add_tls(self, http: dict[str, Any], name: str, custom: list[str], tls: TlsConfig) -> None:
        """Which resolver obtains the certificates of the route's hosts. The routers that only
        share those hosts get `tls: {}`: Traefik serves them the certificates already obtained."""
        for router_name, router in http["routers"].items():
            router["tls"] = {} if router_name != name else {"certResolver": HTTP_RESOLVER}
        if not tls.wildcard:
            return  # HTTP-01 for every host of the route, instance host and custom domains alike
        main = http["routers"][name]
        # The wildcard covers every instance host: one certificate, one DNS-01 challenge.
        main["tls"] = {"certResolver": DNS_RESOLVER, "domains": [{"main": f"*.{self.base_domain}"}]}
        if custom:
            # The customer's own domains cannot take DNS-01 (their DNS is not ours): HTTP-01.
            http["routers"][f"{name}-domains"] = {
                **main, "rule": _host_rule(custom),
                "tls": {"certResolver": HTTP_RESOLVER}}

    @staticmethod
    def _edge_middlewares(name: str, tls: TlsConfig | None = None) -> list[str]:
        """Every router whose service is the edge: the proxy's credential, then the instance prefix."""
        return [*([HSTS_MIDDLEWARE] if tls else []), EDGE_CREDENTIAL_MIDDLEWARE, f"{name}-edge"]

    # --- interface ------------------------------------------------------------------------------
    def publish(self, route: Route) -> None:
        self.ensure_base()
        self.files.put(route)

    def unpublish(self, key: str) -> None:
        self.files.remove(key)

    def wait_removed(self, key: str, *, timeout: float = 3.0) -> bool:
        """Wait until Traefik no longer has the route's router (it reloads ~0.1 s after the file
        goes), so that "deleted" means "not served any more". False when it cannot confirm it."""
        session = requests.Session()
        session.trust_env = False
        url = f"{self.api_url}/api/http/routers/{self.router_name(key)}@file"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if session.get(url, timeout=1).status_code == 404:
                    return True
            except requests.ConnectionError:
                return False  # no Traefik running: nothing serves the route
            except requests.RequestException:
                pass
            time.sleep(0.025)
        return False

    def wait_applied(self, route: Route, *, timeout: float = 3.0) -> bool:
        """Wait until Traefik serves the route as written (it reloads ~0.1 s after a rename), so
        that "running" means "answers at its address". False when Traefik cannot confirm it."""
        name = self.router_name(route.key)
        expected = name if route.upstream else EDGE_SERVICE
        rule = _host_rule(route.hosts)  # a route that only gained or lost a host has the same service
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                router = session.get(f"{self.api_url}/api/http/routers/{name}@file", timeout=1)
                if router.status_code == 200 and router.json().get("service", "").split("@")[0] == expected \
                        and router.json().get("rule") == rule:
                    if not route.upstream:
                        return True
                    service = session.get(f"{self.api_url}/api/http/services/{name}@file", timeout=1)
                    servers = service.json().get("loadBalancer", {}).get("servers", []) if service.ok else []
                    limited = f"{name}-ratelimit@file" in router.json().get("middlewares", [])
                    if [s.get("url") for s in servers] == [route.upstream] and limited == bool(route.rate_limit):
                        return True
            except requests.ConnectionError:
                return False  # no Traefik running: the file is in place for when it starts
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.025)  # each look costs Traefik CPU that its reload needs
        return False

    def current(self, key: str) -> Route | None:
        return self.files.get(key)

    def published(self) -> dict[str, Route]:
        return self.files.all()

    def outdated(self) -> set[str]:
        """Routes still in a file of the layout before shards, found by the last published():
        the reconciler publishes them again (once), which moves them into their shard."""
        return self.files.outdated()

    def _parse_legacy(self, key: str, text: str) -> Route:
        """A route file written before files had a header: what Traefik would read from it."""
        http = (load(text) or {}).get("http", {})
        router = http.get("routers", {}).get(self.router_name(key), {})
        hosts = tuple(re.findall(r"Host\(`([^`]+)`\)", router.get("rule", "")))
        service = http.get("services", {}).get(self.router_name(key))
        upstream = service["loadBalancer"]["servers"][0]["url"] if service else None
        limit = http.get("middlewares", {}).get(f"{self.router_name(key)}-ratelimit", {}).get("rateLimit")
        rate_limit = RateLimit(average=int(limit["average"]), period_seconds=int(str(limit["period"]).rstrip("s")),
                               burst=int(limit["burst"])) if limit and upstream else None
        return Route(key=key, hosts=hosts, upstream=upstream, rate_limit=rate_limit)


def _host_rule(hosts: tuple[str, ...] | list[str]) -> str:
    return " || ".join(f"Host(`{host}`)" for host in hosts)
