"""Loaded with `-p tests.testenv` before Django starts: give the test run its own world.

Always set, never inherited: a test run must not write into the data directory of a `make up`
(the Makefile exports TENANTRY_DATA_DIR) or reuse another run's ports.

Its own data directory, installation id (so the reconciler never touches resources of a
`make up` running on the same Docker engine), resource prefix, subnet pool and ports.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import socket
import tempfile
from pathlib import Path


def spare_subnet(index: int) -> ipaddress.IPv4Network:
    """A /27 of this run's pool for a test that makes a network by hand (not through placement):
    from the pool's next-to-last /24, then the one before it (placement hands out the pool from its
    start; tests/ops/test_compose.py takes the last /24), so two runs on one engine never ask for
    one subnet.

    Never leave a network's subnet to Docker: its default address pools (172.17-31.0.0/16) are
    handed out one /16 after the other, never reusing a freed one at once, so a handful of such
    networks sweeps over every /16 there and takes a whole test pool that has no network in it at
    that moment (CI: "the subnet pool 172.27.0.0/16 is exhausted").
    """
    pool = ipaddress.IPv4Network(os.environ["TENANTRY_SUBNET_POOL"])
    blocks = list(pool.subnets(new_prefix=24))
    per_block = 8
    return list(blocks[-2 - index // per_block].subnets(new_prefix=27))[index % per_block]


def spare_network(client, name: str, index: int, **options):
    """A network made by hand on spare_subnet(index), never on a subnet of Docker's choosing."""
    import docker  # not at import: this module is loaded before anything else of the suite

    return client.networks.create(name, ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=str(spare_subnet(index)))]), **options)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_ports = random.Random()  # seeded from the system's entropy: each run, each pass its own sequence


def free_port() -> int:
    """A loopback port that binds now, below the kernel's ephemeral range.

    Not the kernel's pick (bind to port 0): that comes from the ephemeral range, where every
    outgoing connection on the machine takes its local port too, so one could take it between
    this pick and the server's own bind. It happened with the passes running side by side: the
    production stack's Traefik failed with "bind: address already in use".
    """
    low = max(1024, _EPHEMERAL_LOW - 12000)
    for _ in range(100):
        port = _ports.randrange(low, _EPHEMERAL_LOW)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # somebody listens there
            return port
    with socket.socket() as sock:  # that range is crowded: the kernel's pick, as before
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_run = secrets.token_hex(3)
os.environ["TENANTRY_DATA_DIR"] = tempfile.mkdtemp(prefix=f"tenantry-test-{_run}-")
os.environ["TENANTRY_INSTALLATION_ID"] = f"test-{_run}"
os.environ["TENANTRY_RESOURCE_PREFIX"] = f"tt{_run}"
# Concurrent runs on one engine (several worktrees) each need their own pool, outside Docker's
# default address pools (172.17-31.0.0/16, 192.168.0.0/16): a network another program leaves to
# Docker's choice can take a whole /16 there (see spare_subnet).
os.environ["TENANTRY_SUBNET_POOL"] = os.environ.get("TENANTRY_TEST_SUBNET_POOL", "10.240.0.0/16")
os.environ["TENANTRY_PROXY_PORT"] = str(free_port())
os.environ["TENANTRY_PROXY_INTERNAL_PORT"] = str(free_port())
os.environ["TENANTRY_HUEY_IMMEDIATE"] = "1"
os.environ["TENANTRY_QUEUE_NAME"] = f"tenantry-test-{_run}"
os.environ["TENANTRY_OPERATION_LEASE_SECONDS"] = "3"
os.environ["TENANTRY_STEP_RETRY_BASE_SECONDS"] = "0.05"
os.environ["TENANTRY_HEALTH_TIMEOUT_SECONDS"] = "30"
# No registry here: n8n and WordPress run on the images scripts/build-*-image.sh build.
os.environ["TENANTRY_IMAGE_OVERRIDES"] = (
    '{"n8nio/n8n:2.8.4": "tenantry/n8n:2.8.4", "postgres:15": "tenantry/postgres:15", '
    '"mariadb:10.11": "tenantry/mariadb:10.11"}')
os.environ["TENANTRY_CATALOG_DIRS"] = os.path.join(os.path.dirname(__file__), "catalog")
# API rate limits off for the suite (every test calls from 127.0.0.1); tests/api/test_rate_limits.py
# and the SDK's live-server test turn them on.
os.environ["TENANTRY_API_RATE_LIMIT_PER_MINUTE"] = "0"
os.environ["TENANTRY_API_RATE_LIMIT_PER_IP_PER_MINUTE"] = "0"
