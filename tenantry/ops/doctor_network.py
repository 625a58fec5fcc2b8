"""`tenantry doctor`'s check of the subnet pool instances' networks are cut from, on each active
server's engine: a network that is no instance's can cover part or all of it, and every create
then fails "exhausted" (issue 15's CI run: a test network Docker gave all of 172.27.0.0/16)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

FindingMaker = Callable[[str, str, str, str], object]
SHOWN = 5


def subnet_pool_findings(finding: FindingMaker, ok: str, warning: str, failure: str) -> Iterator[object]:
    from django.db import DatabaseError

    from tenantry.runtime.backends.base import BackendError
    from tenantry.runtime.models import Server
    from tenantry.runtime.placement import DOCKER_DEFAULT_POOLS, default_server, pool_usage
    from tenantry.runtime.registry import runtime_for

    try:
        servers = list(Server.objects.filter(is_active=True).order_by("name")) or [default_server()]
    except DatabaseError as exc:  # not migrated yet, or down: the database check says which
        yield finding("subnet-pool", warning, f"cannot read the servers: {exc}",
                      "see the database check; `tenantry init` creates the tables")
        return
    for server in servers:
        try:
            taken = runtime_for(server).used_subnets()
        except BackendError as exc:  # the docker check reports the engine itself
            yield finding("subnet-pool", warning, f"server {server}: cannot list its engine's networks: "
                          f"{exc.message}", "see the docker check")
            continue
        usage = pool_usage(server, taken)
        where = f"server {server}: subnet pool {usage.pool}"
        counts = f"{usage.held} of its {usage.size} subnets held by instances, {usage.free} free"
        if usage.blocking:
            shown = ", ".join(usage.blocking[:SHOWN]) + (
                f" and {len(usage.blocking) - SHOWN} more" if len(usage.blocking) > SHOWN else "")
            yield finding("subnet-pool", failure if usage.free == 0 else warning,
                          f"{where}: networks on its engine that are no instance's overlap it ({shown}); {counts}",
                          "remove those networks or recreate them with a subnet outside the pool, or set "
                          "TENANTRY_SUBNET_POOL to a range no network uses")
            continue
        exposed = any(usage.pool.overlaps(default) for default in DOCKER_DEFAULT_POOLS)
        note = (" (inside Docker's default address pools: a network created on this engine without a "
                "subnet can take a /16 of it while no instance holds part of it)") if exposed else ""
        yield finding("subnet-pool", ok, f"{where}: {counts}{note}", "")
