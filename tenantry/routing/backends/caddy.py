"""Caddy 2 through its admin API: one request applies one route (issue 15).

Traefik's file provider re-reads its whole directory on every change (~95 ms, more with every
instance) and is only known to have applied a route once its API shows it. Caddy's admin API
takes one route object per request and answers once the new configuration is in force, so
`publish` returns when the route is served and `wait_applied` / `wait_removed` need no polling.

Layout of what Tenantry puts in Caddy (`apps.http.servers.tenantry.routes`, evaluated in order):

- one route per instance, `@id` = `i-<key>`, matching its hosts, inserted at the front;
- the dashboard's route (`tenantry-dashboard`) when the proxy serves it (TENANTRY_DASHBOARD_URL);
- last, a catch-all answering 404 (Caddy answers an empty 200 when no route matches).

A route to the edge sets the proxy-only credential (replacing whatever a visitor sent under that
name), prefixes the path with `/_edge/<key>` (as Traefik's addPrefix does) and proxies to the edge
listener; a route to an app sends `/_tenantry/…` that way too and everything else to the app.
`published()` reads the routes back from Caddy (the configuration in force), not from a cache.

Caddy resolves `/id/…` to the route's index in the array first, then applies the change at that
index once its configuration lock is free: an insert at the front in between shifts the routes,
and the change lands on a neighbour (one key twice, another lost; seen at 1,000 instances created
8 at once). So this installation's processes and threads send their admin requests one at a time,
under a file lock in TENANTRY_CADDY_DIR (Caddy applies changes one at a time anyway).

Not supported here (refused, never silently dropped): rate limits (Caddy's standard build has no
rate limiter, and the edge does not throttle), TLS/ACME (Traefik keeps doing that).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER, Route, RoutingBackend
from tenantry.runtime.backends.base import BackendError, TransientBackendError

SERVER = "tenantry"
ROUTES_PATH = f"/config/apps/http/servers/{SERVER}/routes"
NOT_FOUND_ID = "tenantry-not-found"
DASHBOARD_ID = "tenantry-dashboard"
_PREFIX = "i-"
# Route keys go into an @id, an admin API path and a regexp replacement: nothing else than these.
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class CaddyUnsupported(BackendError):
    """What this backend refuses rather than serve differently from what was asked."""

    code = "routing_unsupported"


def tls_refusal() -> str | None:
    """Why Caddy cannot run with the current settings (TLS on), or None."""
    from tenantry.routing.backends.traefik_static import tls_config_from_settings

    if tls_config_from_settings():
        return ("TLS (ACME) is on (TENANTRY_ACME_CA) but the Caddy routing backend does not obtain "
                "certificates yet: use TENANTRY_ROUTING=traefik with TLS, or turn TLS off")
    return None


def _dial(url: str, what: str) -> tuple[str, bool]:
    """`http(s)://host:port` → (Caddy's `host:port` dial address, https?)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.username:
        raise BackendError(f"{what} {url!r}: Caddy proxies to http(s)://host:port only", code="routing_bad_upstream")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme == "https"


def _proxy(url: str, what: str) -> dict[str, Any]:
    dial, tls = _dial(url, what)
    handler: dict[str, Any] = {"handler": "reverse_proxy", "upstreams": [{"dial": dial}]}
    if tls:
        handler["transport"] = {"protocol": "http", "tls": {}}
    return handler


def initial_config(*, listen: str, admin: str, routes: list[dict[str, Any]] | None = None,
                   storage_dir: str | None = None) -> dict[str, Any]:
    """Caddy's configuration at start-up: the admin API on `admin` (loopback only), one plain HTTP
    server on `listen`, no automatic HTTPS. Caddy saves each change (its autosave.json, 0600), so
    that a restarted Caddy (`caddy run --resume`) serves what was published since."""
    admin_host = admin.rsplit(":", 1)[0].strip("[]")
    if admin_host not in ("127.0.0.1", "localhost", "::1"):
        raise BackendError(f"Caddy's admin API must listen on loopback, not {admin}", code="routing_admin_exposed")
    document: dict[str, Any] = {
        "admin": {"listen": admin, "config": {"persist": True}},
        # Errors only, and not the admin API's: each change warned "automatic HTTPS is completely
        # disabled" and each publish of a new key logged the expected "unknown object ID" (404);
        # the backend raises what Caddy refuses itself.
        "logging": {"logs": {"default": {"level": "ERROR", "exclude": ["admin.api"]}}},
        "apps": {"http": {"servers": {SERVER: {
            "listen": [listen],
            "automatic_https": {"disable": True},
            "routes": routes if routes is not None else [not_found_route()],
        }}}},
    }
    if storage_dir:
        document["storage"] = {"module": "file_system", "root": storage_dir}
    return document


def not_found_route() -> dict[str, Any]:
    return {"@id": NOT_FOUND_ID, "handle": [{"handler": "static_response", "status_code": 404,
                                              "body": "404 page not found\n"}]}


class CaddyRouting(RoutingBackend):
    def __init__(self, *, alias: str = "default", admin_url: str | None = None, edge_url: str | None = None,
                 edge_secret: str | None = None, timeout: float = 10.0, **options: object):
        super().__init__(alias=alias)
        self._admin_url = admin_url
        self._edge_url = edge_url
        self._edge_secret = edge_secret
        self._timeout = timeout
        self._local = threading.local()  # one keep-alive session per thread (workers have several)
        self._lock_path: Path | None = None

    # --- settings ---------------------------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        if self._admin_url:
            return self._admin_url.rstrip("/")
        from django.conf import settings

        return f"http://127.0.0.1:{settings.TENANTRY['PROXY_INTERNAL_PORT']}"

    # --- the admin API ------------------------------------------------------------------------------
    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # loopback: never through an HTTP proxy from the environment
            self._local.session = session
        return session

    @contextmanager
    def _one_at_a_time(self) -> Iterator[None]:
        """Exclusive use of this Caddy's admin API among the installation's processes and threads
        (each open file is a lock of its own, so threads of one process exclude each other too)."""
        if self._lock_path is None:
            from django.conf import settings

            directory = Path(settings.TENANTRY["CADDY_DIR"])
            directory.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(self.admin_url.encode()).hexdigest()[:12]
            self._lock_path = directory / f"admin-{digest}.lock"
        with self._lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        try:
            with self._one_at_a_time():
                return self._session.request(method, f"{self.admin_url}{path}", json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            raise TransientBackendError(f"Caddy's admin API at {self.admin_url} did not answer ({exc})",
                                        code="routing_unavailable") from exc

    def _check(self, response: requests.Response, what: str) -> requests.Response:
        if response.status_code >= 500 and "unknown object ID" not in response.text:
            raise TransientBackendError(f"Caddy refused to {what}: {response.status_code} {response.text[:300]}",
                                        code="routing_unavailable")
        if not response.ok:
            raise BackendError(f"Caddy refused to {what}: {response.status_code} {response.text[:300]}",
                               code="routing_refused")
        return response

    @staticmethod
    def _unknown_id(response: requests.Response) -> bool:
        # Caddy 2.6 answers a path through an unknown @id with 404 and "unknown object ID".
        return response.status_code == 404 or "unknown object ID" in response.text

    # --- routes as Caddy objects --------------------------------------------------------------------
    @staticmethod
    def route_id(key: str) -> str:
        if not _KEY.match(key):
            raise BackendError(f"route key {key!r}: letters, digits, - and _ only", code="routing_bad_key")
        return f"{_PREFIX}{key}"

    def _edge_handlers(self, key: str) -> list[dict[str, Any]]:
        """To the edge: the proxy-only credential, the instance as path prefix, the edge listener."""
        secret = self.edge_secret
        if "{" in secret or "}" in secret:  # Caddy would read it as a placeholder
            raise BackendError("TENANTRY_EDGE_SECRET holds { or }, which Caddy reads as a placeholder; choose "
                               "another (letters, digits, - and _)", code="routing_bad_secret")
        return [
            {"handler": "headers", "request": {"set": {EDGE_CREDENTIAL_HEADER: [secret]}}},
            # As Traefik's addPrefix: /x?q → /_edge/<key>/x?q. A regexp on the path, not `uri` with
            # {http.request.uri.path}: that one is the decoded path, so /a%2Fb became /a/b and
            # /a%3Fb?c lost its "?b" (measured with Caddy 2.6.2); path_regexp keeps the escaping.
            {"handler": "rewrite", "path_regexp": [{"find": "^", "replace": f"/_edge/{key}"}]},
            _proxy(self.edge_url, "edge URL"),
        ]

    def render(self, route: Route) -> dict[str, Any]:
        """The route as one Caddy route object."""
        if route.rate_limit and route.upstream:
            raise CaddyUnsupported(
                f"route {route.key} asks for a rate limit ({route.rate_limit.average} per "
                f"{route.rate_limit.period_seconds} s) but Caddy's standard build has no rate limiter: "
                "a traffic quota's `throttle` policy needs TENANTRY_ROUTING=traefik (or another policy)")
        if not route.hosts:
            raise BackendError(f"route {route.key} has no host", code="routing_no_host")
        handle: list[dict[str, Any]]
        if route.upstream:
            handle = [{"handler": "subroute", "routes": [
                # `/_tenantry/…` on the instance's own address stays Tenantry's even while the app serves.
                {"match": [{"path": ["/_tenantry/*"]}], "handle": self._edge_handlers(route.key)},
                {"handle": [_proxy(route.upstream, "upstream")]},
            ]}]
        else:
            handle = self._edge_handlers(route.key)
        return {"@id": self.route_id(route.key), "match": [{"host": list(route.hosts)}], "handle": handle,
                "terminal": True}

    def parse(self, document: dict[str, Any]) -> Route | None:
        """A Caddy route object back to a Route (None: not an instance route)."""
        route_id = str(document.get("@id", ""))
        if not route_id.startswith(_PREFIX):
            return None
        key = route_id[len(_PREFIX):]
        hosts = tuple(host for matcher in document.get("match", []) for host in matcher.get("host", []))
        upstream = None
        handle = document.get("handle", [])
        if handle and handle[0].get("handler") == "subroute":
            proxy = handle[0]["routes"][-1]["handle"][-1]
            dial = proxy["upstreams"][0]["dial"]
            scheme = "https" if proxy.get("transport", {}).get("tls") is not None else "http"
            upstream = f"{scheme}://{dial}"
        return Route(key=key, hosts=hosts, upstream=upstream)

    # --- interface ----------------------------------------------------------------------------------
    def publish(self, route: Route) -> None:
        """One request: replace the route with this @id in place, or (new key) insert it first.
        Caddy answers once the new configuration serves it."""
        refusal = tls_refusal()
        if refusal:
            raise CaddyUnsupported(refusal)
        document = self.render(route)
        replaced = self._call("PATCH", f"/id/{self.route_id(route.key)}", document)
        if replaced.ok:
            return
        if not self._unknown_id(replaced):
            self._check(replaced, f"replace route {route.key}")
        # A new key: at the front, before the catch-all 404.
        self._check(self._call("PUT", f"{ROUTES_PATH}/0", document), f"add route {route.key}")

    def unpublish(self, key: str) -> None:
        # Caddy accepts two routes with one @id (two processes adding the same new key at once)
        # and DELETE /id/… removes one: delete until it is unknown (normally: twice).
        for _ in range(10):
            response = self._call("DELETE", f"/id/{self.route_id(key)}")
            if self._unknown_id(response):
                return
            self._check(response, f"remove route {key}")
        raise BackendError(f"route {key} is still in Caddy after 10 deletions", code="routing_refused")

    def current(self, key: str) -> Route | None:
        response = self._call("GET", f"/id/{self.route_id(key)}")
        if self._unknown_id(response):
            return None
        return self.parse(self._check(response, f"read route {key}").json() or {})

    def published(self) -> dict[str, Route]:
        response = self._check(self._call("GET", ROUTES_PATH), "list routes")
        routes: dict[str, Route] = {}
        doubled: set[str] = set()
        for document in response.json() or []:
            route = self.parse(document)
            if route is not None:
                if route.key in routes:
                    doubled.add(route.key)
                routes.setdefault(route.key, route)  # the first one serves
        for key in doubled:
            # Two publishes of one new key raced; PATCH /id/… would change the copy that does not
            # serve. Drop every copy: left out here, sync() (the reconciler) publishes it again.
            self.unpublish(key)
            del routes[key]
        return routes

    def base_routes(self) -> list[dict[str, Any]]:
        """What follows the instances' routes: the dashboard's (when the proxy serves it), the 404."""
        from tenantry.routing.backends.traefik_dashboard import dashboard_settings

        tail: list[dict[str, Any]] = []
        dashboard = dashboard_settings()
        if dashboard:
            tail.append({"@id": DASHBOARD_ID, "match": [{"host": [dashboard["host"]]}],
                         "handle": [_proxy(dashboard["upstream"], "dashboard upstream")], "terminal": True})
        tail.append(not_found_route())
        return tail

    def ensure_base(self) -> None:
        """At start-up: the server's routes end with the dashboard's and the catch-all, and every
        instance route carries the current edge URL and credential. One request, and only when
        something differs (the routes are otherwise left alone)."""
        refusal = tls_refusal()
        if refusal:
            raise CaddyUnsupported(refusal)
        response = self._call("GET", ROUTES_PATH)
        current = (self._check(response, "list routes").json() or []) if response.ok else None
        instances = [self.parse(d) for d in current or []]
        wanted = [self.render(route) for route in instances if route is not None] + self.base_routes()
        if current == wanted:
            return
        if current is None:
            raise BackendError(f"Caddy at {self.admin_url} has no server {SERVER!r}: start it with "
                               "tenantry.routing.backends.caddy.initial_config (as `tenantry up` does)",
                               code="routing_no_server")
        self._check(self._call("PATCH", ROUTES_PATH, wanted), "set the base routes")

    def ping(self) -> str:
        """What the readiness probe says: Caddy's admin API answers and has Tenantry's server."""
        response = self._call("GET", f"/config/apps/http/servers/{SERVER}/listen")
        self._check(response, "show its server")
        return f"Caddy answers, serving {', '.join(response.json() or [])}"
