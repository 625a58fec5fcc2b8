"""`tenantry doctor`'s check of the local Docker engine's firewall (issue 15): who writes the
rules (the engine, or Tenantry for its pool when the engine runs with --iptables=false), and is
that in place and not the slow arrangement for this many networks?"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.conf import settings

from tenantry.ops.probes import docker_base_url
from tenantry.runtime.backends.docker_firewall_backend import docker_bridges, engine_iptables
from tenantry.runtime.backends.docker_firewall_pool import docker_writes_iptables

# Docker's rules under nf_tables: dockerd's ~23 iptables runs per network create (as many per
# removal) each read the whole ruleset, so each network makes the next slower; under legacy the
# runs cost 2.5x less at ~830 networks (issue 15, docs/operations.md).
NFT_SLOW_FROM_NETWORKS = 200

# doctor's Finding(check, status, message[, fix]) (passed in: doctor imports this module).
FindingMaker = Callable[..., object]


def docker_firewall_findings(finding: FindingMaker, ok: str, warning: str) -> Iterator[object]:
    """Which iptables backend holds the local engine's rules, and is it the slow one for this
    many networks?"""
    if not docker_base_url().startswith("unix://"):
        return  # a remote engine: its host's firewall is not this one's
    if docker_writes_iptables(docker_base_url().removeprefix("unix://")) is False:
        yield pool_firewall_finding(finding, ok, warning)
        return
    binary = engine_iptables(default="")
    if not binary:
        yield finding("docker-firewall", ok, "no Docker chains in either iptables backend: the engine runs "
                      "with --iptables=false, or doctor cannot read the tables (run it as root to check)")
        return
    bridges = docker_bridges(binary)
    if binary.endswith("-nft") and bridges >= NFT_SLOW_FROM_NETWORKS:
        yield finding("docker-firewall", warning,
                      f"Docker's firewall rules are under nf_tables with {bridges} bridge networks: every "
                      "network Docker creates or removes reads the whole ruleset about 23 times, so it "
                      "slows down with each instance (3x slower than under iptables-legacy at 1,000)",
                      "best, start dockerd with --iptables=false and Tenantry writes one set of rules for "
                      "its whole pool (scripts/ensure-docker.sh does); else, at the next reboot (nf_tables "
                      "rules gone), start it with the iptables-legacy programs first in its PATH "
                      "(docs/operations.md, Docker's firewall)")
        return
    yield finding("docker-firewall", ok, f"Docker's firewall rules are under {binary} ({bridges} bridge networks)")


def pool_firewall_finding(finding: FindingMaker, ok: str, warning: str) -> object:
    """The engine writes no rule (--iptables=false): are Tenantry's rules for the pool hooked in?"""
    from tenantry.runtime.backends.docker_confinement import POOL_LAYOUT, IptablesFirewall

    pool = settings.TENANTRY["SUBNET_POOL"]
    firewall = IptablesFirewall(installation_id=settings.TENANTRY["INSTALLATION_ID"], pool=pool, layout=POOL_LAYOUT)
    chains = firewall.pool_chains
    missing = [f"{builtin} -j {arguments[-1]}" for _, builtin, arguments in firewall.missing_hooks()]
    if missing:
        return finding("docker-firewall", warning,
                       f"the engine writes no firewall rule (--iptables=false) and Tenantry's rules for the pool "
                       f"{pool} are not in place ({', '.join(missing)} missing): tenant networks have no address "
                       "translation and no isolation until they are",
                       "start the worker (`tenantry up` or `tenantry serve`), or run `tenantry reconcile`: a "
                       "backend's first use writes them (docs/operations.md, Docker's firewall)")
    return finding("docker-firewall", ok, f"the engine writes no firewall rule (--iptables=false); Tenantry's "
                   f"rules for the pool {pool} are in place ({chains.prefix}-*): creating a network runs no iptables")
