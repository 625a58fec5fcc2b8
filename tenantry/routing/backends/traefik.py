"""Traefik v3 through its file provider: one dynamic-configuration file per route.

Files are written elsewhere and renamed into the watched directory, so Traefik never reads a
half-written file. A shared `_tenantry.yml` defines the edge service (Tenantry's edge listener)
and the middleware that adds the proxy-only credential the edge requires; every router whose
service is the edge uses it, then an `addPrefix` middleware that tells the edge which instance
the visitor asked for.

The base file also holds a catch-all router, lowest in priority, for every `<label>.<base
domain>` without a route of its own: it sends the visitor to the edge, which finds the instance
by its host (`/_edge/by-host/…`). A new instance's address therefore shows the status page with
no file of its own until its app serves: one reload of Traefik per provisioning instead of two
(each reload re-reads every route, so at 1,000 instances that halves the proxy's work).
Under TLS it exists only with the wildcard certificate (DNS-01): an HTTP-01 certificate is
obtained per host, which only a route naming the host asks for.

Likewise one router of highest priority sends `/_tenantry/…` on any instance host to the edge (by
host), so a running instance's file holds one router and one service: a router, a service and a
middleware fewer for Traefik to parse and build at every reload. Only a customer's own domains
(which no pattern of ours covers) keep a `/_tenantry/` router in the instance's file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER, RateLimit, Route, RoutingBackend
from tenantry.routing.backends.traefik_dashboard import dashboard_http, dashboard_settings
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
_ROUTE_FILE = re.compile(r"^route-([A-Za-z0-9_-]+)\.yml$")
# libyaml's safe loader and dumper when PyYAML was built with it: same documents, a tenth of the time.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
        # published() parses each route file once per version of it (the reconciler asks every
        # minute; parsing 1,000 YAML files took most of its pass): {file name: (stat key, route)}.
        self._parsed: dict[str, tuple[tuple[int, int, int], Route]] = {}
        self._outdated: set[str] = set()

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
    def _write(self, name: str, document: dict[str, Any], *, mode: int = 0o644, header: str = "") -> bool:
        """Put the document in place; False when the file already said exactly that."""
        text = header + yaml.dump(document, Dumper=_Dumper, sort_keys=True)
        target = self.directory / name
        with contextlib.suppress(OSError):
            if target.read_text() == text:
                return False  # unchanged: a rewrite would only make Traefik reload for nothing
        self._replace(target, text, mode=mode)
        return True

    def _replace(self, target: Path, text: str, *, mode: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.staging, suffix=".yml")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)

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
            custom = [host for host in route.hosts if not self._is_instance_host(host)]
            if custom:
                http["routers"][f"{name}-tenantry"] = {
                    "rule": f"({_host_rule(custom)}) && PathPrefix(`/_tenantry/`)", "priority": _RESERVED_PRIORITY,
                    "entryPoints": [self.entrypoint], "service": EDGE_SERVICE,
                    "middlewares": self._edge_middlewares(name, tls)}
        else:
            router["service"] = EDGE_SERVICE
            router["middlewares"] = self._edge_middlewares(name, tls)
        middlewares: dict[str, Any] = {}
        if len(http["routers"]) > 1 or not route.upstream:  # a router of this file goes to the edge
            middlewares[f"{name}-edge"] = {"addPrefix": {"prefix": f"/_edge/{route.key}"}}
        if route.upstream and route.rate_limit:
            limit = route.rate_limit
            middlewares[f"{name}-ratelimit"] = {"rateLimit": {
                "average": limit.average, "period": f"{limit.period_seconds}s", "burst": limit.burst}}
        if middlewares:
            http["middlewares"] = middlewares
        if tls:
            self._add_tls(http, name, route, tls)
        return {"http": http}

    def _add_tls(self, http: dict[str, Any], name: str, route: Route, tls: TlsConfig) -> None:
        """Which resolver obtains the certificates of the route's hosts. The routers that only
        share those hosts get `tls: {}`: Traefik serves them the certificates already obtained."""
        for router_name, router in http["routers"].items():
            router["tls"] = {} if router_name != name else {"certResolver": HTTP_RESOLVER}
        if not tls.wildcard:
            return  # HTTP-01 for every host of the route, instance host and custom domains alike
        custom = [h for h in route.hosts if not self._is_instance_host(h)]
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
        self._write(f"route-{route.key}.yml", self._document(route), header=_route_header(route))

    def unpublish(self, key: str) -> None:
        (self.directory / f"route-{key}.yml").unlink(missing_ok=True)

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
        path = self.directory / f"route-{key}.yml"
        try:
            return self._read(key, path)
        except FileNotFoundError:
            return None

    def published(self) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        if not self.directory.exists():
            return routes
        parsed: dict[str, tuple[tuple[int, int, int], Route]] = {}
        self._outdated = set()
        with os.scandir(self.directory) as entries:
            for entry in entries:
                match = _ROUTE_FILE.match(entry.name)
                if not match:
                    continue
                try:
                    info = entry.stat()
                except FileNotFoundError:  # unpublished meanwhile
                    continue
                # Every write renames a new file in: a new inode, whatever the clock's resolution.
                version = (info.st_ino, info.st_mtime_ns, info.st_size)
                known = self._parsed.get(entry.name)
                route = known[1] if known and known[0] == version else self._read(match.group(1), Path(entry.path))
                parsed[entry.name] = (version, route)
                routes[match.group(1)] = route
        self._parsed = parsed
        return routes

    def _read(self, key: str, path: Path) -> Route:
        with path.open() as handle:
            first = handle.readline()
            route = _route_from_header(key, first)
            if route is not None:
                return route
            text = first + handle.read()  # written before the header existed: parsed
        http = (yaml.load(text, Loader=_Loader) or {}).get("http", {})  # noqa: S506 - a safe loader
        router = http.get("routers", {}).get(self.router_name(key), {})
        hosts = tuple(re.findall(r"Host\(`([^`]+)`\)", router.get("rule", "")))
        service = http.get("services", {}).get(self.router_name(key))
        upstream = service["loadBalancer"]["servers"][0]["url"] if service else None
        limit = http.get("middlewares", {}).get(f"{self.router_name(key)}-ratelimit", {}).get("rateLimit")
        rate_limit = RateLimit(average=int(limit["average"]), period_seconds=int(str(limit["period"]).rstrip("s")),
                               burst=int(limit["burst"])) if limit and upstream else None
        self._outdated.add(key)
        return Route(key=key, hosts=hosts, upstream=upstream, rate_limit=rate_limit)

    def outdated(self) -> set[str]:
        """Route files without the header, found by the last published(): the reconciler
        writes them again (once), so that reading them is cheap from then on."""
        return set(self._outdated)


def _host_rule(hosts: tuple[str, ...] | list[str]) -> str:
    return " || ".join(f"Host(`{host}`)" for host in hosts)


# The first line of every route file: the Route it was written from, as JSON. published() reads
# it instead of parsing the YAML (a thousand parses took seconds of every `tenantry reconcile`,
# a new process with nothing cached); Traefik reads it as a comment.
_HEADER = "# tenantry-route: "


def _route_header(route: Route) -> str:
    limit = route.rate_limit
    return _HEADER + json.dumps({
        "hosts": list(route.hosts), "upstream": route.upstream,
        "rate_limit": [limit.average, limit.period_seconds, limit.burst] if limit else None,
    }, separators=(",", ":")) + "\n"


def _route_from_header(key: str, line: str) -> Route | None:
    if not line.startswith(_HEADER) or not line.endswith("\n"):
        return None
    try:
        found = json.loads(line[len(_HEADER):])
        limit = found["rate_limit"]
        return Route(key=key, hosts=tuple(found["hosts"]), upstream=found["upstream"],
                     rate_limit=RateLimit(*limit) if limit else None)
    except (ValueError, KeyError, TypeError):
        return None
