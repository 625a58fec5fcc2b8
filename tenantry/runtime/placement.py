"""Choose a server for a new instance and allocate its private subnet."""

from __future__ import annotations

import functools
import ipaddress
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
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


def subnet_pool() -> tuple[ipaddress.IPv4Network, ...]:
    return _pool_subnets(settings.TENANTRY["SUBNET_POOL"], settings.TENANTRY["SUBNET_PREFIX"])


@functools.lru_cache(maxsize=8)
def _pool_subnets(pool: str, prefix: int) -> tuple[ipaddress.IPv4Network, ...]:
    # Cut once per process: cutting 2,048 subnets cost ~4 ms of every create's request.
    return tuple(ipaddress.IPv4Network(pool).subnets(new_prefix=prefix))


# Where Docker takes a network's subnet when none is given: a whole /16 of 172.17-31, or a /20 of
# 192.168 (its default `default-address-pools`). A pool there can be taken from under Tenantry.
DOCKER_DEFAULT_POOLS = [ipaddress.IPv4Network(f"172.{second}.0.0/16") for second in range(17, 32)] + [
    ipaddress.IPv4Network("192.168.0.0/16")]


@dataclass(frozen=True)
class PoolUsage:
    pool: ipaddress.IPv4Network
    size: int  # subnets in the pool
    held: int  # by this server's instances
    blocking: list[str]  # networks on the engine that are no instance's and overlap the pool
    free: int


def _instance_subnets(server: Server) -> set[str]:
    from tenantry.instances.models import Instance

    return {s for s in Instance.objects.filter(server=server, subnet__isnull=False).values_list("subnet", flat=True)
            if s}


def _free_subnets(used: set[str], taken_on_host: list[str]) -> Iterator[ipaddress.IPv4Network]:
    """The pool's subnets held neither by an instance nor overlapping any network of the engine,
    in order. Linear in the pool and the networks (checking every pool subnet against every
    network of the engine cost ~1 s at 1,000 networks)."""
    foreign = sorted((int(n.network_address), int(n.broadcast_address))
                     for s in taken_on_host if ":" not in s
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
        yield subnet


def free_subnet(server: Server, *, taken_on_host: list[str] | None = None) -> str:
    """The first subnet of the pool held neither by an instance on this server nor by any other
    network on its engine (another project's, or one left by a lost database).

    The database holds a unique constraint on (server, subnet); a concurrent allocation of the
    same subnet fails there and the caller retries.
    """
    used = _instance_subnets(server)
    subnet = next(_free_subnets(used, taken_on_host or []), None)
    if subnet is not None:
        return str(subnet)
    usage = pool_usage(server, taken_on_host or [], used=used)
    message = (f"The subnet pool {usage.pool} of server {server} is exhausted: instances hold {usage.held} of its "
               f"{usage.size} subnets")
    if usage.blocking:
        # The host's networks go to the log, not into an answer a customer may read.
        log.warning("placement.pool_blocked", server=str(server), pool=str(usage.pool), networks=usage.blocking,
                    fix="remove those networks or give them subnets outside the pool, or set "
                        "TENANTRY_SUBNET_POOL elsewhere")
        message += (f", {len(usage.blocking)} other network(s) on its engine overlap the rest (the log names "
                    "them: placement.pool_blocked)")
    raise ServiceUnavailable(message + ".", code="no_capacity")


def pool_usage(server: Server, taken_on_host: list[str], *, used: set[str] | None = None) -> PoolUsage:
    """How the pool stands on this server: what instances hold, which networks of the engine
    that are no instance's overlap it (typically one whose subnet was left to Docker: it takes a
    whole /16 of DOCKER_DEFAULT_POOLS), and how many subnets are left."""
    used = _instance_subnets(server) if used is None else used
    pool = ipaddress.IPv4Network(settings.TENANTRY["SUBNET_POOL"])
    blocking = sorted({s for s in taken_on_host if ":" not in s and s not in used
                       and ipaddress.ip_network(s, strict=False).overlaps(pool)})
    held = sum(1 for s in used if ipaddress.IPv4Network(s, strict=False).subnet_of(pool))
    return PoolUsage(pool=pool, size=len(subnet_pool()), held=held, blocking=blocking,
                     free=sum(1 for _ in _free_subnets(used, taken_on_host)))
