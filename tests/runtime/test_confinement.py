"""Tenant containers are confined (issue 9, item 4), checked from inside real containers:
no capability but what the spec declares, no-new-privileges, a read-only root where the spec
allows it with size-limited tmpfs, and no way to the host's own services (on the network's
gateway) or to cloud metadata addresses — while the app still answers through Traefik."""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from tenantry.catalog.registry import CatalogError, parse_spec
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import OperationStatus
from tenantry.runtime.backends.docker import DockerRuntime
from tenantry.runtime.backends.docker_confinement import POOL_LAYOUT, IptablesFirewall
from tenantry.runtime.registry import runtime_for
from tests.instances.helpers import create
from tests.testenv import spare_subnet

pytestmark = [pytest.mark.docker]

CAP_NET_BIND_SERVICE = 1 << 10


@contextmanager
def host_listener(address: str, port: int = 0) -> Iterator[tuple[int, list[str]]]:
    """A service of the host's own, bound to one of its addresses: (port, requests received)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host service")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def run_in(instance, command: str):
    deployment = build_deployment(instance)
    return runtime_for(instance.server).exec(deployment, "web", ["sh", "-c", command], timeout=30)


def status_field(instance, name: str) -> str:
    result = run_in(instance, "cat /proc/self/status")
    assert result.exit_code == 0, result.output
    return re.search(rf"^{name}:\s*(\S+)", result.output, re.M).group(1)  # type: ignore[union-attr]


def firewall_of(instance) -> IptablesFirewall:
    """The tenant firewall of the instance's engine: its layout (the engine writes rules, or runs
    with --iptables=false and Tenantry's pool rules stand in) and its iptables program."""
    firewall = runtime_for(instance.server).firewall
    assert firewall is not None
    return firewall


def tagged_rules(firewall: IptablesFirewall, network: str) -> list[str]:
    tag = f"tenantry:{settings.TENANTRY['INSTALLATION_ID']}:{network}"
    rules = []
    for chain in firewall.chains:
        listing = subprocess.run([firewall.binary, "-w", "10", "-S", chain], capture_output=True, text=True,
                                 check=True)
        rules += [line for line in listing.stdout.splitlines() if tag in line]
    return rules


def metadata_rejections(firewall: IptablesFirewall, network: str) -> int:
    """Packets the rule rejecting cloud metadata for this network has matched: its own rule in
    DOCKER-USER, or the pool's in the installation's forward chain."""
    if firewall.layout == POOL_LAYOUT:
        chain, mark = firewall.pool_chains.forward, "169.254.0.0/16"
    else:
        chain, mark = firewall.chains[1], f"tenantry:{settings.TENANTRY['INSTALLATION_ID']}:{network}"
    listing = subprocess.run([firewall.binary, "-w", "10", "-L", chain, "-v", "-x", "-n"], capture_output=True,
                             text=True, check=True)
    return sum(int(line.split()[0]) for line in listing.stdout.splitlines() if mark in line and "REJECT" in line)


def fetch(instance, url: str):
    return run_in(instance, f"timeout 4 wget -q -O - {url}")


def test_a_tenant_container_is_confined_and_still_serves(platform):
    instance, operation = create("boxed")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    platform.wait_for_body(instance.host, "Hello from boxed")
    deployment = build_deployment(instance)

    # No capability at all, and no way to gain one (setuid binaries, file capabilities).
    assert int(status_field(instance, "CapEff"), 16) == 0
    assert int(status_field(instance, "CapBnd"), 16) == 0
    assert status_field(instance, "NoNewPrivs") == "1"

    # hello's spec allows a read-only root: only its volume and its 8 MB tmpfs are writable.
    denied = run_in(instance, "touch /written-to-root")
    assert denied.exit_code != 0 and "Read-only file system" in denied.output
    assert run_in(instance, "echo kept > /data/file && cat /data/file").output.strip() == "kept"
    full = run_in(instance, "dd if=/dev/zero of=/www/big bs=1M count=16")
    assert full.exit_code != 0 and "No space left on device" in full.output

    # The host's own services on the network's gateway: unreachable, the service sees nothing.
    with host_listener(deployment.gateway) as (port, hits):
        assert fetch(instance, f"http://{deployment.gateway}:{port}/").exit_code != 0
    assert hits == []
    # Cloud metadata: refused by Tenantry's rule (its counter moved), not by chance.
    firewall = firewall_of(instance)
    before = metadata_rejections(firewall, deployment.network)
    assert fetch(instance, "http://169.254.169.254/latest/meta-data/").exit_code != 0
    assert metadata_rejections(firewall, deployment.network) > before

    # And the app still answers through the proxy (answers to the host's connections pass).
    assert "Hello from boxed" in platform.get(instance.host).text

    # Under Docker's layout the rules concern this network's bridge only; under the pool layout
    # the pool's rules did all of the above and the network, declaring no exception, has none.
    # Either way they are installed once however often the network is ensured, and go with it.
    rules = tagged_rules(firewall, deployment.network)
    if firewall.layout == POOL_LAYOUT:
        assert rules == []
    else:
        assert len(rules) == 3
        bridge = re.search(r"-i (\S+)", rules[0]).group(1)  # type: ignore[union-attr]
        assert bridge.startswith("br-") and all(f"-i {bridge} " in rule for rule in rules)
    runtime = runtime_for(instance.server)
    runtime.ensure_network(deployment)
    assert tagged_rules(firewall, deployment.network) == rules
    runtime.remove_containers(str(instance.id))
    runtime.remove_network(str(instance.id))
    assert tagged_rules(firewall, deployment.network) == []


def test_declared_capabilities_writable_root_and_host_ports(platform):
    instance, operation = create("loose", app="confined")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    deployment = build_deployment(instance)

    assert int(status_field(instance, "CapEff"), 16) == CAP_NET_BIND_SERVICE
    assert status_field(instance, "NoNewPrivs") == "1"
    assert run_in(instance, "touch /written-to-root").exit_code == 0

    # The declared host port is reachable on the gateway; any other is not.
    with host_listener(deployment.gateway, 39071) as (_, declared_hits), \
            host_listener(deployment.gateway) as (other_port, other_hits):
        assert fetch(instance, f"http://{deployment.gateway}:39071/declared").output == "host service"
        assert fetch(instance, f"http://{deployment.gateway}:{other_port}/other").exit_code != 0
    assert declared_hits == ["/declared"] and other_hits == []


def test_an_app_that_calls_this_servers_sites_reaches_the_proxys_public_ports_only(platform, settings):
    # n8n publishing to a WordPress of the same server: the site's public name resolves to this
    # host, whose firewall lets such an app through to the proxy's entry ports, and nowhere else.
    # (The test run's Traefik listens on loopback: a listener on the gateway stands in for it.)
    with host_listener("0.0.0.0") as (proxy_port, proxy_hits):  # every host address, as a proxy
        settings.TENANTRY = {**settings.TENANTRY, "PROXY_PORT": proxy_port}
        instance, operation = create("caller", app="proxied")
        assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
        deployment = build_deployment(instance)
        assert deployment.host_ports == (proxy_port,)
        with host_listener(deployment.gateway) as (other_port, other_hits):
            assert fetch(instance, f"http://{deployment.gateway}:{proxy_port}/wp-json/").output == "host service"
            assert fetch(instance, f"http://{deployment.gateway}:{other_port}/private").exit_code != 0
        assert proxy_hits == ["/wp-json/"] and other_hits == []
    # With TLS the HTTPS entry point too; an app without the flag gets neither.
    settings.TENANTRY = {**settings.TENANTRY, "TLS": {"https_address": ":8443"}, "PROXY_HTTPS_PORT": 8443}
    assert build_deployment(instance).host_ports == tuple(sorted((proxy_port, 8443)))
    plain, _ = create("plain")
    assert build_deployment(plain).host_ports == ()


def test_rules_are_reinstalled_and_pruned_when_the_backend_starts(platform):
    # An app declaring a host port: its network has rules of its own under either layout.
    instance, operation = create("rebooted", app="confined")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    deployment = build_deployment(instance)
    firewall = firewall_of(instance)
    rules = tagged_rules(firewall, deployment.network)
    assert rules
    # As after a host reboot: the rules are gone, the network is not. And a leftover rule of a
    # network that no longer exists.
    iptables = firewall.binary
    for rule in rules:
        subprocess.run([iptables, "-w", "10", *shlex.split(rule.replace("-A ", "-D ", 1))], check=True)
    ghost = f"{settings.TENANTRY['RESOURCE_PREFIX']}-ghost"
    subprocess.run([iptables, "-w", "10", "-I", firewall.chains[0], "1", "-i", "br-000000000000", "-m", "comment",
                    "--comment", f"tenantry:{settings.TENANTRY['INSTALLATION_ID']}:{ghost}", "-j", "REJECT"],
                   check=True)
    assert tagged_rules(firewall, deployment.network) == []
    pool_rules = ""
    if firewall.layout == POOL_LAYOUT:  # the pool's own rules and their hook went with the reboot too
        chain = firewall.pool_chains.forward
        pool_rules = subprocess.run([iptables, "-w", "10", "-S", chain], capture_output=True, text=True,
                                    check=True).stdout
        subprocess.run([iptables, "-w", "10", "-D", "FORWARD", "-j", chain], check=True)
        subprocess.run([iptables, "-w", "10", "-F", chain], check=True)

    fresh_backend = DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"])
    fresh_backend.ping()  # its first use of the engine installs what is missing
    fresh_backend.close()
    assert sorted(tagged_rules(firewall, deployment.network)) == sorted(rules)
    assert tagged_rules(firewall, ghost) == []
    if firewall.layout == POOL_LAYOUT:
        assert subprocess.run([iptables, "-w", "10", "-S", chain], capture_output=True, text=True,
                              check=True).stdout == pool_rules
        hooks = subprocess.run([iptables, "-w", "10", "-S", "FORWARD"], capture_output=True, text=True,
                               check=True).stdout
        assert hooks.count(f"-j {chain}") == 1


@pytest.mark.parametrize(("service", "error"), [
    ({"capabilities": ["SYS_ADMIN"]}, "SYS_ADMIN cannot be given to a tenant"),
    ({"volumes": [{"name": "data", "mount": "/data"}], "tmpfs": [{"path": "/data"}]}, "mounted twice"),
    ({"tmpfs": [{"path": "/"}]}, "not /"),
])
def test_spec_confinement_declarations_are_validated(service, error):
    data = {"name": "bad", "title": "Bad", "entrypoint": {"service": "web", "port": 8080},
            "services": {"web": {"image": "tenantry/hello:1", **service}}}
    with pytest.raises(CatalogError, match=error):
        parse_spec(data, source="bad.yaml")


def test_a_non_root_container_can_still_write_its_tmpfs_after_a_restart(platform):
    """Docker 20.10 forgets a tmpfs's mode when it restarts a container (n8n, running as `node`,
    then cannot write ~/.cache and never wakes from hibernation): the tmpfs is owned by the
    container's user instead."""
    from tenantry.runtime.backends.base import ContainerSpec, Deployment, ResourceLimits, TmpfsMount

    prefix = f"{settings.TENANTRY['RESOURCE_PREFIX']}-tmpfs"
    subnet = spare_subnet(1)  # of this run's pool: a fixed one clashed between runs on one engine
    gateway, ip = list(subnet.hosts())[:2]
    deployment = Deployment(
        instance_id="tmpfs-owner", slug="tmpfs", network=prefix, subnet=str(subnet), gateway=str(gateway),
        volumes=(), entrypoint_service="web", entrypoint_port=8080,
        containers=(ContainerSpec(
            service="web", name=f"{prefix}-web", image="tenantry/hello:1", ip=str(ip), user="1000:1000",
            limits=ResourceLimits(memory_mb=32, cpus=0.1, pids=16), command=("sleep", "600"),
            read_only_root=True, tmpfs=(TmpfsMount(path="/scratch", size_mb=1),)),))
    runtime = DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"])
    try:
        runtime.ensure_network(deployment)
        runtime.ensure_containers(deployment)
        for _ in range(2):  # first start, then a restart (as hibernation and waking do)
            runtime.start(deployment)
            written = runtime.exec(deployment, "web", ["sh", "-c", "id -u && touch /scratch/file && echo written"])
            assert written.output.split() == ["1000", "written"], written.output
            runtime.stop(deployment.instance_id, timeout=1)
    finally:
        runtime.remove_containers(deployment.instance_id)
        runtime.remove_network(deployment.instance_id)
        runtime.close()
