"""Tenantry's own firewall for its subnet pool (issue 15): with dockerd --iptables=false (what
scripts/ensure-docker.sh starts), one fixed set of rules per subnet pool gives tenant networks
what Docker's per-network rules and Tenantry's confinement gave them, and creating a network runs
no iptables at all.

Checked from real containers: a tenant reaches the world through address translation, never
another tenant; and as rules in a network namespace of the test's own: the base is written once,
whole, with one hook each, and a network has rules only for what it declares."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import OperationStatus
from tenantry.runtime.backends.docker_confinement import DOCKER_LAYOUT, POOL_LAYOUT, IptablesFirewall
from tenantry.runtime.backends.docker_firewall_backend import _legacy_filter_table
from tenantry.runtime.backends.docker_firewall_pool import docker_writes_iptables
from tenantry.runtime.registry import runtime_for
from tests.instances.helpers import create
from tests.runtime.test_confinement import fetch, firewall_of, tagged_rules
from tests.runtime.test_firewall_backend import docker_chains, enter, fake_engine, inside, netns, ns_run

# --- the layout follows the engine's own option ----------------------------------------------------

def test_the_layout_follows_the_engines_iptables_option(tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"iptables": False, "log-level": "warn"}))
    silent = tmp_path / "silent.json"
    silent.write_text(json.dumps({"log-level": "warn"}))
    cases = [
        (("--iptables=false",), False),
        (("--iptables=true",), True),
        (("--iptables",), True),  # a bare boolean flag is true
        (("--config-file", str(config)), False),
        ((f"--config-file={config}", "--iptables=true"), True),  # the command line wins
        (("--config-file", str(silent)), True),  # Docker's default
    ]
    for arguments, writes in cases:
        with fake_engine(tmp_path, *arguments) as socket_path:
            assert docker_writes_iptables(socket_path) is writes, arguments
            firewall = IptablesFirewall(installation_id="t-layout", engine_socket=socket_path, pool="10.77.0.0/16")
            assert firewall.layout == (DOCKER_LAYOUT if writes else POOL_LAYOUT), arguments
    assert docker_writes_iptables(str(tmp_path / "nobody.sock")) is None  # nothing listening: unknown


# --- the rules, in a namespace of the test's own --------------------------------------------------

def pool_firewall(installation: str, pool: str = "10.77.0.0/16") -> IptablesFirewall:
    return IptablesFirewall(installation_id=installation, binary="iptables-nft", pool=pool, layout=POOL_LAYOUT)


def test_the_pool_base_is_written_once_whole_and_a_network_costs_no_iptables_run(monkeypatch):
    installation = f"t{uuid.uuid4().hex[:8]}"
    with netns() as name:
        first = pool_firewall(installation)
        inside(name, first.ensure_base)
        saved = ns_run(name, "iptables-nft-save")
        chains = first.pool_chains
        assert f"-A INPUT -j {chains.input}" in saved and f"-A FORWARD -j {chains.forward}" in saved
        assert f"-A POSTROUTING -j {chains.nat}" in saved
        assert f"-A {chains.nat} -s 10.77.0.0/16 -j MASQUERADE" in saved
        assert f"-A {chains.forward} -s 10.77.0.0/16 -o br-+ -j DROP" in saved

        # A second process (a worker, a restart) writes the same base again: hooks stay single,
        # and a network's exception in place survives the rewrite.
        inside(name, lambda: first.install_new(network="n1", bridge="br-0123456789ab", host_ports=(8443,)))
        second = pool_firewall(installation)
        inside(name, second.ensure_base)
        again = ns_run(name, "iptables-nft-save")
        assert again.count(f"-j {chains.forward}") == 1 and again.count(f"-j {chains.input}") == 1
        assert again.count(f"-j {chains.nat}") == 1
        assert re.findall(rf"-A {chains.allow_input} .*--dport 8443 .*ACCEPT", again)

        # A network that declares nothing: no iptables run to create or to remove it.
        runs: list[list[str]] = []
        original_run, original_restore = IptablesFirewall._run, IptablesFirewall._run_restore
        monkeypatch.setattr(IptablesFirewall, "_run", lambda self, args, **kw: (runs.append(args),
                                                                                original_run(self, args, **kw))[1])
        monkeypatch.setattr(IptablesFirewall, "_run_restore",
                            lambda self, script: (runs.append(["restore"]), original_restore(self, script))[1])
        inside(name, lambda: second.install_new(network="n2", bridge="br-1123456789ab"))
        assert inside(name, lambda: second.remove("n2", bridge="br-1123456789ab")) == 0
        assert runs == []

        # Exceptions: cloud metadata for one network, and removal of each network's own.
        inside(name, lambda: second.install_new(network="n3", bridge="br-2123456789ab", cloud_metadata=True))
        metadata = [line for line in ns_run(name, "iptables-nft-save").splitlines()
                    if second.tag("n3") in line]
        assert len(metadata) == 2 and all(line.startswith(f"-A {chains.allow_forward} ")
                                          and "-i br-2123456789ab " in line and line.endswith("-j ACCEPT")
                                          for line in metadata)
        assert inside(name, lambda: second.remove("n3", bridge="br-2123456789ab", cloud_metadata=True)) == 2
        assert inside(name, lambda: second.prune(set())) == ["n1"]
        assert installation not in ns_run(name, "iptables-nft-save")

        # Another installation on another pool: chains of its own, the first's untouched; one on
        # the same pool (a test run after another) rewrites the same chains, adds none.
        other = pool_firewall(f"t{uuid.uuid4().hex[:8]}", pool="10.78.0.0/16")
        inside(name, other.ensure_base)
        both = ns_run(name, "iptables-nft-save")
        assert other.pool_chains.prefix != chains.prefix
        assert f"-A FORWARD -j {other.pool_chains.forward}" in both and f"-A FORWARD -j {chains.forward}" in both
        assert f"-A {other.pool_chains.forward} -s 10.78.0.0/16 -j ACCEPT" in both
        later = pool_firewall(f"t{uuid.uuid4().hex[:8]}")
        inside(name, later.ensure_base)
        assert later.pool_chains == chains and ns_run(name, "iptables-nft-save").count(":TN-") == 10


# --- Docker's own networks on such a host ---------------------------------------------------------

def test_dockers_own_networks_get_translation_and_an_earlier_engines_rules_go(tmp_path):
    script = str(Path(__file__).resolve().parents[2] / "scripts/docker-own-networks-nat.sh")
    with netns() as name:
        # An engine that wrote its own rules ran since boot (on nf_tables here): its chains, the
        # jumps to them, FORWARD's policy DROP.
        docker_chains(name, "nft", bridges=2)
        ns_run(name, "iptables-nft", "-P", "FORWARD", "DROP")
        for _ in range(2):  # idempotent: a second start adds nothing
            ns_run(name, script, env={**os.environ, "IPTABLES": "iptables-nft"})
        saved = ns_run(name, "iptables-nft-save")
        assert "DOCKER-ISOLATION" not in saved and ":DOCKER-USER" not in saved
        assert ":FORWARD ACCEPT" in saved
        assert saved.count("-A POSTROUTING -j TENANTRY-DOCKER-NAT") == 1
        assert saved.count("-A FORWARD -j TENANTRY-DOCKER-FWD") == 1
        assert "-A TENANTRY-DOCKER-NAT -j MASQUERADE" in saved
        assert "-A TENANTRY-DOCKER-FWD -i docker0 -j ACCEPT" in saved
        assert ns_run(name, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"


# --- real containers --------------------------------------------------------------------------------

@contextmanager
def outside_host() -> Iterator[tuple[str, int, list[str]]]:
    """A host beyond this one (a network namespace on a veth link, as the internet would be):
    (its address, the port of its HTTP service, the client addresses that service saw)."""
    suffix = uuid.uuid4().hex[:6]
    block = int(suffix, 16) % 16000 * 4  # a /30 of 198.18.0.0/16 per test run
    host_ip, far_ip = f"198.18.{block // 256}.{block % 256 + 1}", f"198.18.{block // 256}.{block % 256 + 2}"
    link, peer = f"tno{suffix}", f"tnp{suffix}"
    seen: list[str] = []
    with netns() as name:
        subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", peer], check=True)
        try:
            subprocess.run(["ip", "link", "set", peer, "netns", name], check=True)
            subprocess.run(["ip", "addr", "add", f"{host_ip}/30", "dev", link], check=True)
            subprocess.run(["ip", "link", "set", link, "up"], check=True)
            ns_run(name, "ip", "addr", "add", f"{far_ip}/30", "dev", peer)
            ns_run(name, "ip", "link", "set", peer, "up")
            ns_run(name, "ip", "link", "set", "lo", "up")

            class Handler(BaseHTTPRequestHandler):
                def do_GET(self) -> None:
                    seen.append(self.client_address[0])
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"far away")

                def log_message(self, *args: object) -> None:
                    pass

            ready: list[ThreadingHTTPServer] = []

            def serve() -> None:  # in a thread that entered the namespace: the socket is there
                enter(name)
                server = ThreadingHTTPServer((far_ip, 0), Handler)
                ready.append(server)
                server.serve_forever()

            threading.Thread(target=serve, daemon=True).start()
            for _ in range(100):
                if ready:
                    break
                time.sleep(0.05)
            assert ready, "the outside host's service did not start"
            try:
                yield far_ip, ready[0].server_address[1], seen
            finally:
                ready[0].shutdown()
                ready[0].server_close()
        finally:
            subprocess.run(["ip", "link", "del", link], check=False)


def host_rules(binary: str) -> list[str]:
    """The host's rules (filter and nat) but for other installations' chains and tagged rules:
    the test suite's other passes change theirs meanwhile."""
    own = f"tenantry:{settings.TENANTRY['INSTALLATION_ID']}:"
    lines = []
    for table in ("filter", "nat"):
        listing = subprocess.run([binary, "-w", "10", "-t", table, "-S"], capture_output=True, text=True,
                                 check=True).stdout
        lines += [f"{table} {line}" for line in listing.splitlines()
                  if not re.search(r"TN-[0-9a-f]{8}", line) and ("tenantry:" not in line or own in line)]
    return lines


@pytest.mark.docker
def test_tenants_reach_the_world_through_translation_never_each_other(platform):
    # Listing legacy tables that do not exist would make them: only those in place.
    binaries = ["iptables-nft", *(["iptables-legacy"] if _legacy_filter_table() else [])]
    before = {binary: host_rules(binary) for binary in binaries}

    first, operation = create("wanderer")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    second, operation = create("neighbour")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    writes = docker_writes_iptables(runtime_for(first.server).base_url.removeprefix("unix://"))
    firewall = firewall_of(first)
    assert firewall.layout == (DOCKER_LAYOUT if writes is not False else POOL_LAYOUT)
    if firewall.layout == POOL_LAYOUT:
        # Two networks made: not one rule more anywhere, neither Docker's nor Tenantry's.
        assert {binary: host_rules(binary) for binary in binaries} == before
        assert tagged_rules(firewall, build_deployment(first).network) == []
    else:
        assert len(tagged_rules(firewall, build_deployment(first).network)) == 3

    # Tenants never reach each other, in either direction, on the app's own port.
    near, far = build_deployment(first), build_deployment(second)
    for source, target in ((first, far), (second, near)):
        address = f"http://{target.containers[0].ip}:{target.entrypoint_port}/"
        assert fetch(source, address).exit_code != 0, address
    # ... nor another Docker network's containers (docker0's gateway side is the host: checked
    # by test_confinement; a bridge's far side is another network).

    # The world beyond the host: reached, seen from there as the host (translated), not as the
    # tenant's private address.
    with outside_host() as (far_ip, port, seen):
        reply = fetch(first, f"http://{far_ip}:{port}/hello")
        assert reply.exit_code == 0 and reply.output == "far away", reply.output
    assert seen and all(address != near.containers[0].ip for address in seen), seen
    assert seen[0].startswith("198.18.")


def test_processes_starting_together_write_the_pool_base_once():
    # The web server and the worker start at once on a fresh boot: each looks for the hooks,
    # finds none, and writes them; without a lock between them FORWARD got the hook twice.
    with netns() as name:
        firewalls = [pool_firewall(f"t{index}") for index in range(8)]
        barrier = threading.Barrier(len(firewalls))
        errors: list[BaseException] = []

        def start(firewall: IptablesFirewall) -> None:
            try:
                barrier.wait()
                firewall.ensure_base()
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        def all_at_once() -> None:
            threads = [threading.Thread(target=start, args=(f,)) for f in firewalls]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)

        inside(name, all_at_once)  # threads started in the namespace's thread are in it too
        assert errors == []
        saved = ns_run(name, "iptables-nft-save")
        chains = firewalls[0].pool_chains
        assert saved.count(f"-A FORWARD -j {chains.forward}") == 1
        assert saved.count(f"-A INPUT -j {chains.input}") == 1
        assert saved.count(f"-A POSTROUTING -j {chains.nat}") == 1
