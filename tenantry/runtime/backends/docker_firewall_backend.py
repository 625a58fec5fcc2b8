"""Which iptables backend holds the local Docker engine's rules (issue 15). iptables 1.8 has two
backends with separate tables in the kernel (`iptables-nft`, Debian's default, and
`iptables-legacy`), and Docker's chains exist only in the one dockerd's `iptables` resolved to:
Tenantry's per-network rules go beside them (docker_confinement's Docker layout), and doctor
reports which it is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tenantry.core.logging import get_logger

log = get_logger(__name__)

# Docker's chain for the operator's rules, first in FORWARD: its presence means Docker writes rules.
DOCKER_USER_CHAIN = "DOCKER-USER"
# The two backends of iptables 1.8 (each has its own tables in the kernel); `iptables` itself is
# whichever the host's alternatives point to.
BACKENDS = ("iptables-legacy", "iptables-nft")
# One rule per bridge network in Docker's isolation chain: the backend holding more of them is
# the running engine's when both hold Docker's chains (left over from an engine on the other one).
ISOLATION_CHAIN = "DOCKER-ISOLATION-STAGE-1"


def _listing(binary: str, chain: str) -> list[str] | None:
    """`binary -S chain` lines, or None when the chain (or the binary) is not there."""
    try:
        done = subprocess.run([binary, "-w", "10", "-S", chain], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.splitlines() if done.returncode == 0 else None


def _legacy_filter_table() -> bool:
    """Does this network namespace have a legacy `filter` table? (Read from /proc: running
    iptables-legacy would load the module and make the table.)"""
    try:
        return "filter" in Path("/proc/thread-self/net/ip_tables_names").read_text().split()
    except OSError:  # ip_tables not loaded: no legacy table anywhere
        return False


def docker_bridges(binary: str) -> int:
    """Bridge networks Docker has rules for in `binary`'s tables (one isolation rule each)."""
    return sum("-j DOCKER-ISOLATION-STAGE-2" in line for line in _listing(binary, ISOLATION_CHAIN) or [])


def engine_iptables(default: str = "iptables") -> str:
    """The iptables program whose tables hold the local Docker engine's rules: the backend with
    Docker's DOCKER-USER chain; when both have it, the one with more networks in Docker's
    isolation chain. `default` when neither has it (an engine started with --iptables=false,
    or not started yet) or no backend binary is installed."""
    found = {}
    for binary in BACKENDS:
        if binary == "iptables-legacy" and not _legacy_filter_table():
            continue  # listing it would create it (an empty table, and nft's warnings about it)
        if shutil.which(binary) and _listing(binary, DOCKER_USER_CHAIN) is not None:
            found[binary] = docker_bridges(binary)
    if not found:
        return default
    ranked = sorted(found.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        log.warning("firewall.backend_ambiguous", backends=sorted(found), chosen=default)
        return default
    return ranked[0][0]
