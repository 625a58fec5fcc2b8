"""Docker's firewall backend (issue 15): a fresh engine is started on iptables' legacy backend,
whose cost per network grows a third as steeply as nf_tables', and Tenantry's
confinement rules go to the backend holding the engine's chains, whichever it is.

Each test runs in a network namespace of its own: its iptables tables (nft and legacy alike) are
empty and its own, so the machine's engine and its rules are never touched. The engine's chains
are made as dockerd makes them (DOCKER-USER, one isolation rule per bridge)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ctypes import CDLL, get_errno
from pathlib import Path
from typing import TypeVar

import pytest

from tenantry.ops.doctor import check_docker_firewall
from tenantry.ops.doctor_firewall import NFT_SLOW_FROM_NETWORKS
from tenantry.runtime.backends.docker_confinement import POOL_LAYOUT, IptablesFirewall
from tenantry.runtime.backends.docker_firewall_backend import engine_iptables

ROOT = Path(__file__).resolve().parents[2]
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


FAKE_ENGINE = """
import socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1]); server.listen(4)
print("listening", flush=True)
while True:
    connection, _ = server.accept(); connection.close()
"""


@contextmanager
def fake_engine(directory: Path, *arguments: str) -> Iterator[str]:
    """A process listening on a unix socket with dockerd's arguments on its command line: what
    Tenantry reads to know whether the engine writes firewall rules."""
    path = str(directory / f"engine-{uuid.uuid4().hex[:6]}.sock")
    process = subprocess.Popen([sys.executable, "-c", FAKE_ENGINE, path, *arguments], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "listening"
        yield path
    finally:
        process.kill()
        process.wait()


def engine_at(settings, socket_path: str) -> None:
    """Point the default runtime backend (what doctor checks) at the engine on `socket_path`."""
    backends = {**settings.RUNTIME_BACKENDS}
    backends["default"] = {**backends["default"],
                           "OPTIONS": {**backends["default"]["OPTIONS"], "base_url": f"unix://{socket_path}"}}
    settings.RUNTIME_BACKENDS = backends


@contextmanager
def netns() -> Iterator[str]:
    name = f"tnfw-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def enter(name: str) -> None:
    """Move the calling thread into the namespace (and the threads and programs it starts)."""
    with open(f"/run/netns/{name}") as handle:
        if CDLL(None, use_errno=True).setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(get_errno(), "setns")


def inside(name: str, fn: Callable[[], T]) -> T:
    """fn() run in a thread that entered the namespace (a network namespace is per thread, and
    the programs it runs inherit it): the test process itself stays where it is."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            enter(name)
            result.append(fn())
        except BaseException as exc:  # re-raised in the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if errors:
        raise errors[0]
    return result[0]


def ns_run(name: str, *command: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["ip", "netns", "exec", name, *command], input=stdin, capture_output=True, text=True,
                          check=True, env=env).stdout


def docker_chains(name: str, backend: str, bridges: int) -> None:
    """The chains dockerd 20.10 makes in the filter table, with `bridges` bridge networks."""
    lines = ["*filter", ":DOCKER-USER - [0:0]", ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
             ":DOCKER-ISOLATION-STAGE-2 - [0:0]", "-A FORWARD -j DOCKER-USER",
             "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"]
    for index in range(bridges):
        bridge = f"br-{index:012x}"
        lines += [f"-A DOCKER-ISOLATION-STAGE-1 -i {bridge} ! -o {bridge} -j DOCKER-ISOLATION-STAGE-2",
                  f"-A DOCKER-ISOLATION-STAGE-2 -o {bridge} -j DROP"]
    lines += ["-A DOCKER-ISOLATION-STAGE-1 -j RETURN", "-A DOCKER-USER -j RETURN", "COMMIT", ""]
    ns_run(name, f"iptables-{backend}-restore", "--noflush", stdin="\n".join(lines))


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_confinement_rules_go_to_the_backend_holding_the_engines_chains(backend):
    other = "nft" if backend == "legacy" else "legacy"
    with netns() as name:
        docker_chains(name, backend, bridges=3)
        firewall = IptablesFirewall(installation_id=f"t{uuid.uuid4().hex[:8]}")

        def install() -> str:
            firewall.install_new(network="n1", bridge="br-0123456789ab", host_ports=(8080,))
            return firewall.binary

        assert inside(name, install) == f"iptables-{backend}"
        tag = firewall.tag("n1")
        assert ns_run(name, f"iptables-{backend}-save").count(tag) == 4  # port, INPUT reject, 2 metadata
        if other == "legacy":  # nothing written there: no legacy table was even made (looking for
            # the engine's chains there reads /proc rather than running iptables-legacy, which makes one)
            assert "filter" not in ns_run(name, "cat", "/proc/net/ip_tables_names").split()
        else:
            assert tag not in ns_run(name, "iptables-nft-save")
        assert inside(name, lambda: firewall.remove("n1")) == 4
        assert tag not in ns_run(name, f"iptables-{backend}-save")


def test_with_chains_in_both_backends_the_one_with_the_engines_networks_wins():
    # An engine that ran on nft, then one on legacy without a reboot: both tables have Docker's
    # chains; the running engine's holds its networks.
    with netns() as name:
        docker_chains(name, "nft", bridges=1)
        docker_chains(name, "legacy", bridges=4)
        assert inside(name, engine_iptables) == "iptables-legacy"
    with netns() as name:
        assert inside(name, engine_iptables) == "iptables"  # no engine chains: the host's default


def choose(name: str, **env: str) -> str:
    return ns_run(name, str(ROOT / "scripts/docker-iptables-backend.sh"),
                  env={**os.environ, "TENANTRY_DOCKER_IPTABLES": "", **env}).strip()


def test_a_fresh_host_starts_docker_on_legacy_but_never_moves_an_engines_nft_rules():
    with netns() as name:
        assert choose(name, TENANTRY_DOCKER_IPTABLES="auto") == "legacy"
        ns_run(name, "iptables-nft", "-t", "nat", "-N", "DOCKER")  # an engine ran on nft since boot
        assert choose(name, TENANTRY_DOCKER_IPTABLES="auto") == "nft"
        assert choose(name, TENANTRY_DOCKER_IPTABLES="legacy") == "legacy"  # the operator decides
    with netns() as name:
        docker_chains(name, "legacy", bridges=2)  # an engine on legacy already: stays there
        assert choose(name, TENANTRY_DOCKER_IPTABLES="auto") == "legacy"
        assert choose(name, TENANTRY_DOCKER_IPTABLES="nft") == "nft"
    with netns() as name:
        failed = subprocess.run(["ip", "netns", "exec", name, str(ROOT / "scripts/docker-iptables-backend.sh")],
                                env={**os.environ, "TENANTRY_DOCKER_IPTABLES": "both"}, capture_output=True)
        assert failed.returncode == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("backend", "bridges", "status"), [
    ("nft", NFT_SLOW_FROM_NETWORKS, "warning"),
    ("nft", NFT_SLOW_FROM_NETWORKS - 1, "ok"),
    ("legacy", NFT_SLOW_FROM_NETWORKS * 2, "ok"),
])
def test_doctor_warns_when_the_engines_rules_are_under_nft_with_many_networks(backend, bridges, status, settings,
                                                                            tmp_path):
    with netns() as name, fake_engine(tmp_path, "--iptables=true") as engine:
        engine_at(settings, engine)
        docker_chains(name, backend, bridges=bridges)
        findings = inside(name, lambda: list(check_docker_firewall()))
    assert [f.status for f in findings] == [status]
    assert f"{bridges} bridge networks" in findings[0].message
    if status == "warning":
        assert "--iptables=false" in findings[0].fix and "iptables-legacy" in findings[0].fix
        assert "docs/operations.md" in findings[0].fix
    else:
        assert f"iptables-{backend}" in findings[0].message


@pytest.mark.django_db
def test_doctor_says_whether_the_pool_rules_are_in_place_when_the_engine_writes_none(settings, tmp_path):
    with netns() as name, fake_engine(tmp_path, "--iptables=false") as engine:
        engine_at(settings, engine)
        missing = inside(name, lambda: list(check_docker_firewall()))
        firewall = IptablesFirewall(installation_id="doctor", binary="iptables",
                                    pool=settings.TENANTRY["SUBNET_POOL"], layout=POOL_LAYOUT)
        inside(name, firewall.ensure_base)
        present = inside(name, lambda: list(check_docker_firewall()))
    assert [f.status for f in missing] == ["warning"]
    assert "no address translation and no isolation" in missing[0].message and "FORWARD" in missing[0].message
    assert [f.status for f in present] == ["ok"]
    assert firewall.pool_chains.prefix in present[0].message and "runs no iptables" in present[0].message
