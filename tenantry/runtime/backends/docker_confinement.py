"""Host firewall rules that keep tenant containers away from the host itself and from cloud
metadata (iptables on the Docker host; the engine must be local). Containers themselves are
confined by docker_container_confinement.

Docker lets a container open connections to every address of its host (the network's gateway,
the host's other interfaces): any service bound to 0.0.0.0 there — a database, a node
exporter, the Docker API on tcp — is reachable from every tenant. And a container's traffic to
169.254.169.254 is routed to the cloud's metadata service (instance credentials). So:

- new connections from a tenant network to the host are rejected, except to the TCP ports the
  app spec declares (`network.host_ports`); answers to connections the host opened (the proxy,
  health probes, hooks) are not new, so they pass;
- its traffic to link-local 169.254.0.0/16 and Alibaba's 100.100.100.200 is rejected, unless the
  spec declares `network.cloud_metadata`.

Two layouts, after the engine's own `iptables` option (IptablesFirewall.layout):
- `pool` (dockerd --iptables=false, what scripts/ensure-docker.sh starts): one fixed set of
  rules for the whole subnet pool does the above and what Docker no longer does (address
  translation, isolation); a network has rules of its own only for its exceptions, in the
  pool's exception chains (docker_firewall_pool). Creating a network runs no iptables.
- `docker` (the engine writes its own rules): per network, keyed by its bridge, in `INPUT` and
  in `DOCKER-USER` (Docker's chain for the operator's rules, first in FORWARD), in the iptables
  backend holding Docker's chains (`engine_iptables()`: nft and legacy have separate tables).

A network's own rules carry the comment `tenantry:<installation>:<network>`, so they are
recognisable, are removed with the network, and another installation's (or test run's) are never
touched. Installing is idempotent: rules already in place are left alone.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from typing import Any

from tenantry.core.logging import get_logger
from tenantry.runtime.backends.base import BackendError
from tenantry.runtime.backends.docker_firewall_backend import DOCKER_USER_CHAIN, engine_iptables
from tenantry.runtime.backends.docker_firewall_pool import (
    METADATA_DESTINATIONS,
    REJECT,
    PoolChains,
    docker_writes_iptables,
    existing_chains,
    hooks,
    pool_lock,
    restore_script,
)

log = get_logger(__name__)

INPUT_CHAIN = "INPUT"
FORWARD_CHAIN = DOCKER_USER_CHAIN
TAG_PREFIX = "tenantry:"
# Words iptables-restore reads as they are (no quoting needed): every rule Tenantry writes.
_RESTORE_SAFE = re.compile(r"[A-Za-z0-9_.:/+-]+")
def bridge_interface(network_attrs: dict[str, Any]) -> str:
    """The host interface of a Docker bridge network (Docker names it br-<id prefix>)."""
    options = network_attrs.get("Options") or {}
    return options.get("com.docker.network.bridge.name") or f"br-{network_attrs['Id'][:12]}"


# Where the rules go. `docker`: the engine writes its own (address translation, isolation) and
# Tenantry adds its confinement per network in INPUT and DOCKER-USER. `pool`: the engine runs with
# --iptables=false and Tenantry's fixed rules for the whole subnet pool do all of it, with only a
# network's declared exceptions per network (docker_firewall_pool).
DOCKER_LAYOUT = "docker"
POOL_LAYOUT = "pool"


class IptablesFirewall:
    def __init__(self, *, installation_id: str, binary: str | None = None, engine_socket: str | None = None,
                 pool: str | None = None, layout: str | None = None):
        """`binary`: the iptables program to use; by default the engine's (engine_iptables(),
        found at the first use). `layout`: docker or pool; by default the engine's, read at the
        first use from the process on `engine_socket` (else from the chains in place: Docker's
        chains mean Docker writes rules). `pool`: the subnet pool, which the pool layout needs."""
        self.installation_id = installation_id
        self._binary = binary
        self._engine_socket = engine_socket
        self._pool = pool
        self._layout = layout
        self.pool_chains = PoolChains.for_pool(pool or "")
        self._base_ready = False
        # Re-entrant: reading the rules under the lock may first install the pool layout's base.
        self._lock = threading.RLock()

    @property
    def layout(self) -> str:
        if self._layout is None:
            writes = docker_writes_iptables(self._engine_socket) if self._engine_socket else None
            if writes is None:
                writes = bool(engine_iptables(default=""))
            self._layout = DOCKER_LAYOUT if writes else POOL_LAYOUT
            log.info("firewall.layout", layout=self._layout)
        return self._layout

    @property
    def binary(self) -> str:
        if self._binary is None:
            # Under the pool layout there is no engine rule to sit beside: the host's iptables.
            self._binary = engine_iptables() if self.layout == DOCKER_LAYOUT else "iptables"
            log.info("firewall.backend", binary=self._binary)
        return self._binary

    @property
    def chains(self) -> tuple[str, str]:
        """(input, forward): the chains a network's own rules go to."""
        if self.layout == POOL_LAYOUT:
            return self.pool_chains.allow_input, self.pool_chains.allow_forward
        return INPUT_CHAIN, FORWARD_CHAIN

    def ensure_base(self) -> None:
        """Under the pool layout, the pool's rules and their hooks in place: written once per
        process (its first use; a backend starting after a reboot writes them again), whole and
        at once."""
        if self.layout != POOL_LAYOUT or self._base_ready:
            return
        with self._lock:
            if self._base_ready:
                return
            if not self._pool:
                raise BackendError("the pool firewall needs the subnet pool (TENANTRY_SUBNET_POOL)",
                                   code="bad_config")
            with pool_lock(self.pool_chains):  # another process may be looking and writing too
                missing = {(table, builtin) for table, builtin, _ in self.missing_hooks()}
                self._run_restore(restore_script(self.pool_chains, self._pool, existing_chains(self.binary),
                                                 missing))
            self._base_ready = True
        log.info("firewall.pool_installed", pool=self._pool, chains=self.pool_chains.prefix)

    def missing_hooks(self) -> list[tuple[str, str, list[str]]]:
        """The pool layout's hooks not in place: (table, built-in chain, the hook's arguments)."""
        return [(table, builtin, arguments) for table, builtin, arguments in hooks(self.pool_chains)
                if self._run(["-t", table, "-C", builtin, *arguments], check=False) is None]

    def tag(self, network: str) -> str:
        return f"{TAG_PREFIX}{self.installation_id}:{network}"

    def rules(self, *, network: str, bridge: str, host_ports: tuple[int, ...] = (),
              cloud_metadata: bool = False) -> list[tuple[str, list[str]]]:
        """(chain, rule arguments) for one instance network, in the order they must apply."""
        comment = ["-m", "comment", "--comment", self.tag(network)]
        input_chain, forward_chain = self.chains
        found: list[tuple[str, list[str]]] = [
            (input_chain, ["-i", bridge, "-p", "tcp", "--dport", str(port), *comment, "-j", "ACCEPT"])
            for port in host_ports
        ]
        if self.layout == POOL_LAYOUT:  # the pool's rules reject the rest: only exceptions here
            if cloud_metadata:
                found += [(forward_chain, ["-i", bridge, "-d", destination, *comment, "-j", "ACCEPT"])
                          for destination in METADATA_DESTINATIONS]
            return found
        found.append((input_chain, ["-i", bridge, "-m", "conntrack", "--ctstate", "NEW", *comment, *REJECT]))
        if not cloud_metadata:
            found += [(forward_chain, ["-i", bridge, "-d", destination, *comment, *REJECT])
                      for destination in METADATA_DESTINATIONS]
        return found

    # --- install / remove ---------------------------------------------------------------------
    def ensure(self, *, network: str, bridge: str, host_ports: tuple[int, ...] = (),
               cloud_metadata: bool = False, present: list[tuple[str, list[str]]] | None = None) -> None:
        """Install the network's rules unless exactly they are in place already. `present`: its
        rules as read by installed() when many networks are ensured at once (then they are
        compared in memory: asking iptables about each rule, `-C`, cost one full read of the
        ruleset per rule: ~50 ms each at 300 networks on a loaded machine, 904 runs and 58 s)."""
        self.ensure_base()
        wanted = self.rules(network=network, bridge=bridge, host_ports=host_ports, cloud_metadata=cloud_metadata)
        if present is not None and same_rules(present, wanted):
            return
        with self._lock:
            # Read again under the lock: `present` may be older than a concurrent install.
            present = self._tagged(network)
            if same_rules(present, wanted):
                return
            self._delete(present)
            # Inserted at the top of each chain, last rule first, so they apply in `wanted` order
            # and before anything else in the chain.
            for chain, rule in reversed(wanted):
                self._run(["-I", chain, "1", *rule])
        log.info("firewall.installed", network=network, bridge=bridge, rules=len(wanted))

    def install_new(self, *, network: str, bridge: str, host_ports: tuple[int, ...] = (),
                    cloud_metadata: bool = False) -> None:
        """Install the rules of a network Docker has just created: its bridge is new, so no rule
        can be in place for it yet, and one `iptables-restore` applies them all at once (a
        provisioning waited for five iptables runs, each reading every chain, before).
        A leftover rule of an older network of the same name (a crash between removing the
        network and its rules) is cleared by the next `ensure` or `prune`."""
        self.ensure_base()
        wanted = self.rules(network=network, bridge=bridge, host_ports=host_ports, cloud_metadata=cloud_metadata)
        if not wanted:  # the pool layout, a network that declares no exception: nothing to run
            return
        # Inserted at the top of each chain, last rule first, as ensure() does.
        script = _restore_script([("-I", chain, ["1", *rule]) for chain, rule in reversed(wanted)])
        if script is None:
            self.ensure(network=network, bridge=bridge, host_ports=host_ports, cloud_metadata=cloud_metadata)
            return
        with self._lock:
            self._run_restore(script)
        log.info("firewall.installed", network=network, bridge=bridge, rules=len(wanted))

    def remove(self, network: str, *, bridge: str | None = None, host_ports: tuple[int, ...] = (),
               cloud_metadata: bool = False) -> int:
        """Remove the network's rules. With its `bridge` (and the rules' options), the rules it was
        given are deleted in one `iptables-restore` (each iptables run reads the whole ruleset: a
        listing of both chains and a deletion per rule were five at every instance's deletion);
        when they are not exactly in place, its tagged rules are listed and deleted one by one."""
        if bridge is not None:
            wanted = self.rules(network=network, bridge=bridge, host_ports=host_ports, cloud_metadata=cloud_metadata)
            if not wanted:  # it was given none (pool layout): no iptables run at all
                return 0
            script = _restore_script([("-D", chain, rule) for chain, rule in wanted])
            if script is not None:
                with self._lock:
                    try:
                        self._run_restore(script)
                        return len(wanted)
                    except BackendError:
                        pass  # one of them is missing or differs (nothing was deleted): by listing
        with self._lock:
            present = self._tagged(network)
            self._delete(present)
        return len(present)

    def prune(self, keep: set[str], installed: dict[str, list[tuple[str, list[str]]]] | None = None) -> list[str]:
        """Remove this installation's rules of networks not in `keep` (removed while the
        control plane was down, or by hand). Returns the networks whose rules went.
        `installed`: the rules as read (installed()) *before* `keep` was listed: a network
        created after a fresh listing of rules but missing from an older `keep` would lose the
        rules its creator had just installed."""
        with self._lock:
            if installed is None:
                installed = self._installed()
            stale = {network: rules for network, rules in installed.items() if network not in keep}
            self._delete([rule for rules in stale.values() for rule in rules])
        return sorted(stale)

    # --- plumbing -----------------------------------------------------------------------------
    def _tagged(self, network: str) -> list[tuple[str, list[str]]]:
        tag = self.tag(network)
        return [(chain, rule) for chain, rule in self._all_tagged(tag) if _tag_of(rule) == tag]

    def installed(self) -> dict[str, list[tuple[str, list[str]]]]:
        """This installation's rules by network, read in one listing of each chain (ensuring
        each network with its own listings cost two full reads per network: quadratic)."""
        with self._lock:
            return self._installed()

    def _installed(self) -> dict[str, list[tuple[str, list[str]]]]:
        prefix = f"{TAG_PREFIX}{self.installation_id}:"
        by_network: dict[str, list[tuple[str, list[str]]]] = {}
        for chain, rule in self._all_tagged(prefix):
            by_network.setdefault(_tag_of(rule).removeprefix(prefix), []).append((chain, rule))
        return by_network

    def _all_tagged(self, prefix: str) -> list[tuple[str, list[str]]]:
        self.ensure_base()  # the pool layout's chains exist before they are listed
        found = []
        for chain in self.chains:
            for line in (self._run(["-S", chain]) or "").splitlines():
                if prefix not in line:  # most lines are other networks': skip them before parsing
                    continue
                words = _listed_words(line)
                if words[:2] == ["-A", chain] and _tag_of(words).startswith(prefix):
                    found.append((chain, words[2:]))
        return found

    def _exists(self, chain: str, rule: list[str]) -> bool:
        return self._run(["-C", chain, *rule], check=False) is not None

    def _delete(self, rules: list[tuple[str, list[str]]]) -> None:
        for chain, rule in rules:
            self._run(["-D", chain, *rule], check=False)  # already gone: fine

    def _run_restore(self, script: str) -> None:
        command = [f"{self.binary}-restore", "--noflush", "-w", "10"]
        try:
            done = subprocess.run(command, input=script, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"cannot run {command[0]} to confine tenant networks: {exc}",
                               code="firewall_unavailable") from exc
        if done.returncode != 0:
            raise BackendError(f"{shlex.join(command)} failed: {done.stderr.strip() or done.returncode}",
                               code="firewall_unavailable")

    def _run(self, args: list[str], *, check: bool = True) -> str | None:
        command = [self.binary, "-w", "10", *args]  # -w: wait for the xtables lock others hold
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"cannot run {self.binary} to confine tenant networks: {exc}",
                               code="firewall_unavailable") from exc
        if done.returncode != 0:
            if not check:
                return None
            raise BackendError(f"{shlex.join(command)} failed: {done.stderr.strip() or done.returncode}",
                               code="firewall_unavailable")
        return done.stdout


def _restore_script(commands: list[tuple[str, str, list[str]]]) -> str | None:
    """(action, chain, arguments) as one `iptables-restore --noflush` script of the filter table
    (applied all at once or not at all; every other rule of the table stays); None when a word
    would need quoting there (never for the rules Tenantry writes)."""
    if not all(_RESTORE_SAFE.fullmatch(word) for _, _, arguments in commands for word in arguments):
        return None
    return "\n".join(["*filter", *(" ".join([action, chain, *arguments]) for action, chain, arguments in commands),
                      "COMMIT", ""])


def _tag_of(rule: list[str]) -> str:
    for index, word in enumerate(rule[:-1]):
        if word == "--comment":
            return rule[index + 1]
    return ""


def _listed_words(line: str) -> list[str]:
    """A line of `iptables -S` as words. iptables quotes only the comment, and Tenantry's
    comments have no space: splitting on spaces does, at a fraction of shlex's cost (it took
    most of reading a thousand networks' rules)."""
    words = line.split()
    if '"' not in line and "'" not in line and "\\" not in line:
        return words
    unquoted = [w[1:-1] if len(w) >= 2 and w[0] == w[-1] == '"' else w for w in words]
    if any(c in w for w in unquoted for c in "\"'\\"):
        return shlex.split(line)  # someone else's rule with a quoted space: the careful way
    return unquoted


# Matches iptables names itself when it lists a rule (`-p tcp --dport` comes back `-p tcp -m tcp --dport`).
_IMPLIED = {("-m", "tcp"), ("-m", "udp")}


def _canonical(rule: list[str]) -> tuple[tuple[str, ...], ...]:
    """A rule's options, each with its values, in a fixed order: as iptables lists it (which
    reorders options and names implied matches) and as Tenantry writes it give the same."""
    groups: list[tuple[str, ...]] = []
    for word in rule:
        if word.startswith("-") and not word[1:2].isdigit():
            groups.append((word,))
        elif groups:
            groups[-1] = (*groups[-1], word)
        else:
            groups.append((word,))
    return tuple(sorted(g for g in groups if g not in _IMPLIED))


def same_rules(present: list[tuple[str, list[str]]], wanted: list[tuple[str, list[str]]]) -> bool:
    """True when `present` (as listed by iptables, in chain order) are exactly `wanted`, in the
    same order within each chain."""
    def by_chain(rules: list[tuple[str, list[str]]]) -> dict[str, list[tuple[tuple[str, ...], ...]]]:
        chains: dict[str, list[tuple[tuple[str, ...], ...]]] = {}
        for chain, rule in rules:
            chains.setdefault(chain, []).append(_canonical(rule))
        return chains

    return len(present) == len(wanted) and by_chain(present) == by_chain(wanted)
