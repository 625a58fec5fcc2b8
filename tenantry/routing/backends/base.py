"""The routing interface: make `<slug>.<base domain>` reach an instance, or Tenantry's edge."""

from __future__ import annotations

import abc
from dataclasses import dataclass

# The proxy adds this header, with the edge's secret (TENANTRY_EDGE_SECRET), to every request it
# forwards to the edge; the edge answers nothing without it (tenantry.edge.guard).
EDGE_CREDENTIAL_HEADER = "X-Tenantry-Edge-Key"


@dataclass(frozen=True)
class RateLimit:
    """At most `average` requests per `period_seconds` (plus a `burst`) reach the app; the
    proxy answers the others 429 itself. Set while a traffic quota's policy is `throttle`."""

    average: int
    period_seconds: int = 1
    burst: int = 1


@dataclass(frozen=True)
class Route:
    """Where the proxy sends requests for some host names.

    With an `upstream` the app answers; without one the control plane's edge answers (the
    stopped / suspended / starting pages, and wake-on-request for hibernated instances).
    """

    key: str  # stable identifier, the instance id
    hosts: tuple[str, ...]
    upstream: str | None = None
    rate_limit: RateLimit | None = None  # only meaningful with an upstream (the edge is never limited)

    @property
    def to_edge(self) -> bool:
        return self.upstream is None


class RoutingBackend(abc.ABC):
    # Whether the proxy tells who visited which instance (Traefik's access log): idle hibernation
    # needs it. Without it, every instance would look unvisited and be put to sleep while in use.
    reports_activity = False
    # Where routes without an upstream go, and the credential the proxy adds for it; None:
    # from settings (TENANTRY_EDGE_URL or the edge port, TENANTRY_EDGE_SECRET).
    _edge_url: str | None = None
    _edge_secret: str | None = None

    def __init__(self, *, alias: str = "default", **options: object):
        self.alias = alias

    @property
    def edge_url(self) -> str:
        if self._edge_url:
            return self._edge_url
        from django.conf import settings

        conf = settings.TENANTRY
        return conf["EDGE_URL"] or f"http://127.0.0.1:{conf['EDGE_PORT']}"

    @property
    def edge_secret(self) -> str:
        if self._edge_secret:
            return self._edge_secret
        from django.conf import settings

        return settings.TENANTRY["EDGE_SECRET"]

    @abc.abstractmethod
    def publish(self, route: Route) -> None:
        """Create or replace the route with this key."""

    @abc.abstractmethod
    def unpublish(self, key: str) -> None:
        """Remove the route; no error when it is already gone."""

    @abc.abstractmethod
    def published(self) -> dict[str, Route]:
        """The routes currently in force, by key."""

    def outdated(self) -> set[str]:
        """Keys of routes that the last published() found in an older form than the backend
        writes now (same route): the reconciler publishes them again. None by default."""
        return set()

    def current(self, key: str) -> Route | None:
        """The route in force for one key (backends override this with a cheaper lookup)."""
        return self.published().get(key)

    def serves_unrouted(self, hosts: tuple[str, ...]) -> bool:
        """Whether the proxy already sends these hosts to the edge with no route of their own (a
        catch-all): a new instance then needs no route until its app serves. False by default."""
        return False

    def wait_applied(self, route: Route, *, timeout: float = 3.0) -> bool:
        """Wait until the proxy really serves `route`; True when confirmed. Backends that apply
        routes synchronously need not override this."""
        return True

    def wait_removed(self, key: str, *, timeout: float = 3.0) -> bool:
        """Wait until the proxy really stops serving the route `key` after `unpublish`; True when
        confirmed. Backends that remove routes synchronously need not override this."""
        return True

    def sync(self, routes: list[Route]) -> None:
        """Make the published set exactly `routes` (used at start-up and by the reconciler)."""
        wanted = {route.key: route for route in routes}
        current = self.published()
        for key in set(current) - set(wanted):
            self.unpublish(key)
        for key, route in wanted.items():
            if current.get(key) != route:
                self.publish(route)

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
