"""Tenantry's own firewall for its subnet pool, for a Docker engine that writes none
(dockerd --iptables=false; issue 15).

Why: dockerd 20.10 runs ~23 `iptables` commands to create a bridge network and as many to remove
it, and each reads the whole ruleset, which grows by ~8 rules per network: at 1,000 instances a
bare network create cost 17 times what it did with few (bench/docker_network_scale.py), and every
provisioning and deletion paid it. Every tenant network sits in one address pool
(TENANTRY_SUBNET_POOL), so one fixed set of rules keyed on the pool does, for all of them at
once, what Docker did per network (address translation, isolation between bridges) and what
Tenantry's confinement did per network (no new connection to the host, no cloud metadata).
Creating or removing a network then runs no iptables at all, at any count.

The rules, per pool (chains named after it: installations on distinct pools, such as the test
suite's passes, never touch each other's; one that restarts, or comes back on the same pool,
rewrites the same chains rather than adding more):

- `nat`, `<chains>-NAT` from POSTROUTING: the pool's traffic to anywhere outside the pool is
  masqueraded (egress, as Docker's MASQUERADE per network did).
- `filter`, `<chains>-IN` from INPUT: from the pool, the declared exceptions (`<chains>-AIN`:
  a network's `host_ports`), then every new connection to the host is rejected.
- `filter`, `<chains>-FWD` first in FORWARD: the declared exceptions (`<chains>-AFWD`: a
  network's `cloud_metadata`), cloud metadata rejected; frames bridged within one network pass
  (br_netfilter shows them to iptables: Docker's ICC); from the pool to any other bridge, and
  from any bridge into the pool, dropped (Docker's isolation between networks, and between
  tenants); the rest from the pool passes (egress), and into the pool only answers.

The exception chains hold the per-network rules of `IptablesFirewall` (tagged, installed and
pruned as in Docker's layout); a network that declares nothing has none. The base chains are
rewritten whole, atomically (iptables-restore flushes a chain it declares), whenever a backend
starts; their hooks are added only when missing.

Docker's own networks (docker0 for image builds, compose projects) get no address translation
from such an engine either: scripts/ensure-docker.sh, which starts it, gives them that
(docs/operations.md, "Docker's firewall").
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Both layouts' (docker_confinement's per-network rules too). Rejected rather than dropped: the
# tenant's connection fails fast and visibly.
REJECT = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
METADATA_DESTINATIONS = ("169.254.0.0/16", "100.100.100.200/32")
_REJECT = " ".join(REJECT)  # as a restore line's words
# Bridge interfaces of Docker networks: user-defined (br-<id>) and the default one.
BRIDGE_PATTERNS = ("br-+", "docker0")


@dataclass(frozen=True)
class PoolChains:
    """The chains of one subnet pool (iptables allows 28 characters: a digest of the pool)."""

    prefix: str

    @classmethod
    def for_pool(cls, pool: str) -> PoolChains:
        return cls(f"TN-{hashlib.sha256(pool.encode()).hexdigest()[:8]}")

    @property
    def input(self) -> str:
        return f"{self.prefix}-IN"

    @property
    def forward(self) -> str:
        return f"{self.prefix}-FWD"

    @property
    def allow_input(self) -> str:
        return f"{self.prefix}-AIN"

    @property
    def allow_forward(self) -> str:
        return f"{self.prefix}-AFWD"

    @property
    def nat(self) -> str:
        return f"{self.prefix}-NAT"


def base_rules(chains: PoolChains, pool: str) -> dict[str, list[str]]:
    """The base chains' rules by table, as `-A` lines of iptables-restore."""
    forward = [
        f"-A {chains.forward} -j {chains.allow_forward}",
        *(f"-A {chains.forward} -s {pool} -d {destination} {_REJECT}" for destination in METADATA_DESTINATIONS),
        f"-A {chains.forward} -s {pool} -m physdev --physdev-is-bridged -j ACCEPT",
        *(f"-A {chains.forward} -s {pool} -o {bridge} -j DROP" for bridge in BRIDGE_PATTERNS),
        *(f"-A {chains.forward} -d {pool} -i {bridge} -j DROP" for bridge in BRIDGE_PATTERNS),
        f"-A {chains.forward} -s {pool} -j ACCEPT",
        f"-A {chains.forward} -d {pool} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A {chains.forward} -d {pool} -j DROP",
    ]
    return {
        "filter": [
            f"-A {chains.input} -s {pool} -j {chains.allow_input}",
            f"-A {chains.input} -s {pool} -m conntrack --ctstate NEW {_REJECT}",
            *forward,
        ],
        "nat": [
            f"-A {chains.nat} -s {pool} -d {pool} -j RETURN",
            f"-A {chains.nat} -s {pool} -j MASQUERADE",
        ],
    }


# (table, built-in chain, the hook's arguments) for each base chain. The hooks match nothing
# themselves (the chains do): a pool changed since keeps its hooks valid.
def hooks(chains: PoolChains) -> list[tuple[str, str, list[str]]]:
    return [
        ("filter", "INPUT", ["-j", chains.input]),
        ("filter", "FORWARD", ["-j", chains.forward]),
        ("nat", "POSTROUTING", ["-j", chains.nat]),
    ]


def restore_script(chains: PoolChains, pool: str, existing: set[str], missing_hooks: set[tuple[str, str]]) -> str:
    """One iptables-restore --noflush script: the base chains declared (so flushed) and refilled,
    the exception chains declared only when they do not exist yet (declaring flushes them), the
    missing hooks inserted first in their built-in chains."""
    rules = base_rules(chains, pool)
    declared = {"filter": [chains.input, chains.forward], "nat": [chains.nat]}
    created = {"filter": [c for c in (chains.allow_input, chains.allow_forward) if c not in existing], "nat": []}
    lines: list[str] = []
    for table in ("filter", "nat"):
        lines.append(f"*{table}")
        lines += [f":{chain} - [0:0]" for chain in [*created[table], *declared[table]]]
        lines += rules[table]
        for hook_table, builtin, arguments in hooks(chains):
            if hook_table == table and (table, builtin) in missing_hooks:
                lines.append(" ".join(["-I", builtin, "1", *arguments]))
        lines.append("COMMIT")
    return "\n".join([*lines, ""])


def docker_writes_iptables(socket_path: str) -> bool | None:
    """Does the engine listening on `socket_path` write iptables rules (its `iptables` option,
    true by default)? Read from the engine's own command line (the socket's peer process) and
    its daemon.json; None when that process cannot be seen (another PID namespace, no /proc)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(socket_path)
            pid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i")))[0]
        if pid <= 0:
            return None
        arguments = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return None
    flag = _option(arguments, "--iptables", boolean=True)
    if flag is not None:
        return flag.lower() not in ("false", "0")
    config = _option(arguments, "--config-file") or "/etc/docker/daemon.json"
    try:
        value = json.loads(Path(config).read_text()).get("iptables")
    except (OSError, ValueError, AttributeError):
        value = None
    return value is not False


def _option(arguments: list[str], name: str, *, boolean: bool = False) -> str | None:
    """The value of a command-line option: `name=value`, or `name value` (a bare `name` for a
    boolean option, which Go's flags read as true)."""
    for index, argument in enumerate(arguments):
        if argument.startswith(f"{name}="):
            return argument.split("=", 1)[1]
        if argument == name:
            if boolean:
                return "true"
            return arguments[index + 1] if index + 1 < len(arguments) else None
    return None


@contextmanager
def pool_lock(chains: PoolChains) -> Iterator[None]:
    """Held by one process of this host at a time while it looks at the pool's hooks and chains
    and writes them: the web server and the worker start together on a fresh boot, and each,
    finding no hook, added its own (8 processes at once: 8 hooks in FORWARD)."""
    directory = "/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir()
    with open(Path(directory) / f"tenantry-{chains.prefix}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def existing_chains(binary: str) -> set[str]:
    """User chains of the filter table (`iptables -S` prints `-N chain` for each)."""
    done = subprocess.run([binary, "-w", "10", "-S"], capture_output=True, text=True, timeout=30)
    return {line.split()[1] for line in done.stdout.splitlines() if line.startswith("-N ")}
