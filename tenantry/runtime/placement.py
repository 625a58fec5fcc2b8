"""Choose a server for a new instance and allocate its private subnet."""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from itertools import accumulate

from django.conf import settings
from django.db.models import Count, Q

from tenantry.core.errors import ServiceUnavailable
from tenantry.core.logging import get_logger
from tenantry.runtime.models import Server

log = get_logger(__name__)


def default_server() -> Server:
    server, _ = Server.objects.get_or_create(name="local", defaults={"backend": "default"})
    return server


def place_instance() -> Server:
    """The active server with the most room left."""
    if not Server.objects.exists():
        default_server()
    servers = (
        Server.objects.filter(is_active=True)
        .annotate(used=Count("instances", filter=~Q(instances__status="deleted")))
        .order_by("used", "name")
    )
    for server in servers:
        if server.used < server.capacity:
            return server
    raise ServiceUnavailable("Every server is full; add a server or raise a capacity.", code="no_capacity")


def subnet_pool() -> list[ipaddress.IPv4Network]:
    pool = ipaddress.IPv4Network(settings.TENANTRY["SUBNET_POOL"])
    prefix = settings.TENANTRY["SUBNET_PREFIX"]
    return list(pool.subnets(new_prefix=prefix))


def free_subnet(server: Server, *, taken_on_host: list[str] | None = None) -> str:
    """The first subnet of the pool held neither by an instance on this server nor by any other
    network on its engine (another project's, or one left by a lost database).

    The database holds a unique constraint on (server, subnet); a concurrent allocation of the
    same subnet fails there and the caller retries.

    Linear in the pool and the networks (it ran once per create: checking every pool subnet
    against every network of the engine cost ~1 s at 1,000 networks).
    """
    from tenantry.instances.models import Instance

    used = set(Instance.objects.filter(server=server, subnet__isnull=False).values_list("subnet", flat=True))
    foreign = sorted((int(n.network_address), int(n.broadcast_address))
                     for s in taken_on_host or [] if ":" not in s
                     for n in [ipaddress.ip_network(s, strict=False)])
    ends = list(accumulate((end for _, end in foreign), max))
    starts = [start for start, _ in foreign]
    for subnet in subnet_pool():
        if str(subnet) in used:
            continue
        first, last = int(subnet.network_address), int(subnet.broadcast_address)
        # The networks starting at or before this subnet's end: it overlaps one of them if the
        # furthest end among them reaches its start.
        before = bisect_right(starts, last)
        if before and ends[before - 1] >= first:
            continue
        return str(subnet)
    raise ServiceUnavailable(_exhausted(server, used, taken_on_host or []), code="no_capacity")


def _exhausted(server: Server, used: set[str | None], taken_on_host: list[str]) -> str:
    """Why no subnet is left: instances hold them, or networks the engine has that are not an
    instance's overlap the pool (typically one whose subnet was left to Docker: it takes a whole
    /16 of its default address pools 172.17-31.0.0/16, where the default pool lies). Those networks
    go to the log, not into an answer a customer may read."""
    pool = ipaddress.IPv4Network(settings.TENANTRY["SUBNET_POOL"])
    blocking = sorted({s for s in taken_on_host if ":" not in s and s not in used
                       and ipaddress.ip_network(s, strict=False).overlaps(pool)})
    held = sum(1 for s in used if s and ipaddress.IPv4Network(s, strict=False).subnet_of(pool))
    message = (f"The subnet pool {pool} of server {server} is exhausted: instances hold {held} of its "
               f"{len(subnet_pool())} subnets")
    if blocking:
        log.warning("placement.pool_blocked", server=str(server), pool=str(pool), networks=blocking,
                    fix="remove those networks or give them subnets outside the pool, or set "
                        "TENANTRY_SUBNET_POOL elsewhere")
        message += (f", {len(blocking)} other network(s) on its engine overlap the rest (the log names "
                    "them: placement.pool_blocked)")
    return message + "."
