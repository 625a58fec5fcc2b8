"""Provisioning and wake benchmark: Tenantry (API → worker → Docker → Traefik) against the bare
Docker SDK doing the same physical work, measured in one run on this machine.

    .venv/bin/python bench/provision.py [--count 20] [--managed 100] [--profile] [--routing caddy|traefik]

Prints p50/p95 of both and their ratio, for provisioning and for wake-from-hibernation, and the
control plane's resident memory (web + worker) with --managed instances under management.
With --profile, also where Tenantry's time goes (median per phase: the API's answer, the queue
hop to the worker, each step and the bookkeeping between steps, the proxy until the app answers).
--routing picks the proxy `tenantry up` runs (TENANTRY_ROUTING; default traefik).

TENANTRY_BENCH_SUBNET (default 10.250.0.0/16, outside Docker's default address pools) keeps runs
on a shared machine apart: the managed instances take its first half, the bare baseline its second.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IMAGE = "tenantry/hello:1"
API_PAGE = 100  # tenantry/api/pagination.py MAX_PAGE_SIZE: a bigger limit is refused
SUBNET = ipaddress.ip_network(os.environ.get("TENANTRY_BENCH_SUBNET", "10.250.0.0/16"))
MANAGED_POOL, BARE_POOL = SUBNET.subnets(prefixlen_diff=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_answering(get: Callable[[], requests.Response], *, timeout: float, interval: float, failure: str) -> None:
    """Poll `get` until it answers 2xx; RuntimeError(`failure`) once `timeout` seconds are gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get().ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(interval)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, ours: list[float], base: list[float]) -> None:
    p50o, p95o, p50b, p95b = pct(ours, 0.5), pct(ours, 0.95), pct(base, 0.5), pct(base, 0.95)
    print(f"{name:<28} tenantry p50 {p50o:6.3f} s  p95 {p95o:6.3f} s | bare p50 {p50b:6.3f} s  p95 {p95b:6.3f} s"
          f" | ratio p50 {p50o / p50b:5.2f}  p95 {p95o / p95b:5.2f}")


def api_timestamp(value: str | None) -> float | None:
    """An API timestamp (ISO 8601) in epoch seconds; None for a time not reached yet."""
    return datetime.fromisoformat(value).timestamp() if value else None


class Profile:
    """Per-phase durations of Tenantry's runs, from the operations' own timestamps (the API's)
    and the bench's wall clock (same machine, same clock)."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float | None) -> None:
        if seconds is not None:
            self.phases.setdefault(name, []).append(seconds)

    def record(self, stack: Stack, slug: str, kind: str, asked: float, answered: float, *,
               api_answered: float | None = None) -> None:
        deadline = time.monotonic() + 60
        while True:  # the app may answer before the operation has written its end
            response = stack.api("GET", f"/instances/{slug}/operations")
            operation = next(o for o in response.json() if o["kind"] == kind)
            if operation["finished_at"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        created, started = api_timestamp(operation["created_at"]), api_timestamp(operation["started_at"])
        finished = api_timestamp(operation["finished_at"])
        assert created and started and finished, operation
        self.add("request → operation row", created - asked)
        if api_answered is not None:
            self.add("request → API answer", api_answered - asked)
        self.add("queue hop (row → claimed)", started - created)
        previous = started
        healthy = None
        for step in operation["steps"]:
            begun, ended = api_timestamp(step["started_at"]), api_timestamp(step["finished_at"])
            if begun is None or ended is None:
                continue
            self.add("  bookkeeping between steps", begun - previous)
            self.add(f"  step {step['name']}", ended - begun)
            previous = ended
            if step["name"] == "wait_healthy":
                healthy = ended
        self.add("  finish (status, events)", finished - previous)
        self.add("operation done → answers via proxy (< 0: before)", answered - finished)
        if healthy is not None:  # a wake hands a held request over from then on (the edge)
            self.add("app seen healthy → answers via proxy", answered - healthy)
        self.add("total", answered - asked)

    def print(self, title: str) -> None:
        print(f"  {title}: median (p95) per phase, ms; 'bookkeeping' sums every gap of a run")
        for name, values in self.phases.items():
            if name == "  bookkeeping between steps":
                continue
            print(f"    {name:<40} {pct(values, 0.5) * 1000:7.1f} ({pct(values, 0.95) * 1000:7.1f})")
        gaps = self.phases.get("  bookkeeping between steps", [])
        if gaps:
            print(f"    {'  bookkeeping, each gap':<40} {pct(gaps, 0.5) * 1000:7.1f} ({pct(gaps, 0.95) * 1000:7.1f})")


class Stack:
    """`tenantry up` in its own data directory, installation id, subnet pool and ports."""

    def __init__(self, routing: str = "traefik") -> None:
        run = secrets.token_hex(3)
        self.routing = routing
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"tenantry-bench-{run}-"))
        self.installation = f"bench-{run}"
        self.web_port, self.proxy_port, self.internal_port = free_port(), free_port(), free_port()
        self.env = {**os.environ, "TENANTRY_DATA_DIR": str(self.data_dir),
                    "TENANTRY_INSTALLATION_ID": self.installation,
                    "TENANTRY_RESOURCE_PREFIX": f"bn{run}", "TENANTRY_SUBNET_POOL": str(MANAGED_POOL),
                    "TENANTRY_WEB_PORT": str(self.web_port), "TENANTRY_PROXY_PORT": str(self.proxy_port),
                    "TENANTRY_PROXY_INTERNAL_PORT": str(self.internal_port), "TENANTRY_HIBERNATE_AFTER_SECONDS": "0",
                    # Every listener on its own port: another `tenantry up` on the machine (a
                    # helper's run, another bench) must not answer for this one.
                    "TENANTRY_EDGE_PORT": str(free_port()), "TENANTRY_SUPPORT_SMTP_PORT": str(free_port()),
                    "TENANTRY_GATEWAY_URL": f"http://127.0.0.1:{free_port()}", "TENANTRY_ROUTING": routing}
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()
        self.http.trust_env = False

    def start(self) -> None:
        # Kept in the data directory: a failed run says why.
        with (self.data_dir / "stack.log").open("ab") as log:
            self.process = subprocess.Popen([str(BIN / "tenantry"), "up"], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        # /healthz, not the OpenAPI document: each poll of that built the whole schema (~40 s on
        # a loaded machine), and polls timed out kept the web workers busy. 300 s: a loaded
        # machine takes its time to import everything.
        wait_answering(lambda: self.http.get(f"http://127.0.0.1:{self.web_port}/healthz", timeout=1),
                       timeout=300, interval=0.2,
                       failure=f"tenantry up did not answer; see {self.data_dir / 'stack.log'}")
        token = subprocess.run([str(BIN / "tenantry"), "tokens", "create", "bench", "--quiet"], env=self.env,
                               capture_output=True, text=True, check=True).stdout.strip()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        while True:  # the bench's own reads and creates count against the API's per-address limit
            response = self.http.request(method, f"http://127.0.0.1:{self.web_port}/api/v1{path}", **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After") or 1))

    def proxy_get(self, slug: str, path: str = "/") -> requests.Response:
        return self.http.get(f"http://127.0.0.1:{self.proxy_port}{path}", headers={"Host": f"{slug}.localhost"},
                             timeout=5)

    def wait_answer(self, slug: str, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = self.proxy_get(slug)
                if response.status_code == 200 and text in response.text:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{slug} did not answer through the proxy")

    def wait_status(self, slug: str, status: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api("GET", f"/instances/{slug}").json().get("status") == status:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{slug} never became {status}")

    def hibernate(self, slug: str) -> None:
        """Hibernate the instance and wait until it is: while another operation holds it (its
        provisioning's last steps, a scheduled backup) the API answers 409, so ask again."""
        while (status := self.api("POST", f"/instances/{slug}/hibernate").status_code) == 409:
            time.sleep(0.2)
        assert status == 202, status
        self.wait_status(slug, "hibernated")

    def control_plane_rss_mb(self) -> tuple[float, float]:
        """(web + worker, proxy) resident memory in MB, from /proc."""
        assert self.process is not None
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        rss: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                status = (entry / "status").read_text()
            except OSError:
                continue
            pid = int(entry.name)
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(pid)
            names[pid] = stat.split("(", 1)[1].split(")", 1)[0]
            rss[pid] = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)
        tree, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        proxies = ("traefik", "caddy")
        proxy = sum(rss[p] for p in tree if names.get(p) in proxies) / 1024
        plane = sum(rss[p] for p in tree if names.get(p) not in proxies and p != self.process.pid) / 1024
        return plane, proxy

    def stop(self) -> None:
        if self.process:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        remove_labelled(self.installation)


def remove_labelled(installation: str) -> None:
    """Remove every resource labelled with this installation id (the product's own clean-up)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    import django

    django.setup()
    from tenantry.runtime.backends.docker import DockerRuntime

    runtime = DockerRuntime(installation_id=installation)
    runtime.remove_resources(runtime.list_managed())
    runtime.close()


def bare_provision(client: docker.DockerClient, index: int, labels: dict[str, str], *, name: str | None = None,
                   subnet: ipaddress.IPv4Network | None = None) -> tuple[float, object]:
    """The physical baseline: network with explicit subnet + volume + container with limits +
    start, until HTTP 200 on its address. `name` and `subnet` default to bare-<index> and the
    index-th /27 of this bench's own pool (bench/scale.py passes its own)."""
    http = requests.Session()
    http.trust_env = False
    started = time.perf_counter()
    name = name or f"bare-{index}"
    subnet = subnet or bare_subnet(index)
    net = client.networks.create(name, driver="bridge", labels=labels,
                                 ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                                     subnet=str(subnet), gateway=str(subnet[1]))]))
    client.volumes.create(f"{name}-data", labels=labels)
    ip = str(subnet[2])
    container = client.containers.create(
        IMAGE, name=name, environment={"HELLO_INSTANCE": name}, init=True,
        labels=labels, mem_limit="64m", nano_cpus=250_000_000, pids_limit=64,
        volumes={f"{name}-data": {"bind": "/data", "mode": "rw"}}, network=net.name,
        networking_config={net.name: client.api.create_endpoint_config(ipv4_address=ip)})
    container.start()
    wait_http(http, f"http://{ip}:8080/")
    return time.perf_counter() - started, container


def bare_remove(client: docker.DockerClient, name: str) -> None:
    """What deleting a bare provision takes: its container (running: removed by force), volume
    and network, as `docker rm -f`, `docker volume rm` and `docker network rm` do."""
    client.api.remove_container(name, force=True)
    client.api.remove_volume(f"{name}-data")
    client.api.remove_network(name)


def bare_subnet(index: int) -> ipaddress.IPv4Network:
    return list(BARE_POOL.subnets(new_prefix=27))[index]  # type: ignore[return-value]


def wait_http(http: requests.Session, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer")


def warm_up(stack: Stack, client: docker.DockerClient, labels: dict[str, str], *, bare_index: int) -> None:
    """One provisioning and one wake of each kind, not timed: the first request a freshly
    started control plane serves pays for loading code and opening connections (~0.1 s of the
    web process alone), once per process, and the first bare network is slower too. Printed, so
    the cold start stays visible."""
    started = time.perf_counter()
    response = stack.api("POST", "/instances", json={"slug": "bench-warm", "app": "hello"})
    assert response.status_code == 202, response.text
    stack.wait_answer("bench-warm", "Hello from bench-warm")
    ours = time.perf_counter() - started
    stack.hibernate("bench-warm")
    started = time.perf_counter()
    stack.wait_answer("bench-warm", "Hello from bench-warm")
    woken = time.perf_counter() - started
    took, _ = bare_provision(client, bare_index, labels, name="bare-warm")
    print(f"warm-up (not in the figures below): first provision tenantry {ours:.3f} s, bare {took:.3f} s; "
          f"first wake tenantry {woken:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20, help="instances timed, each way")
    parser.add_argument("--managed", type=int, default=100, help="instances under management for the memory figure")
    parser.add_argument("--profile", action="store_true", help="print where Tenantry's time goes, per phase")
    parser.add_argument("--routing", choices=("traefik", "caddy"), default="traefik",
                        help="the proxy `tenantry up` runs (TENANTRY_ROUTING)")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts/build-hello-image.sh")], check=True, capture_output=True)
    client = docker.from_env()
    bare_installation = f"bench-bare-{secrets.token_hex(3)}"
    bare_labels = {"tenantry.installation": bare_installation}
    stack = Stack(args.routing)
    try:
        stack.start()
        warm_up(stack, client, bare_labels, bare_index=args.count)
        # --- provisioning --------------------------------------------------------------------
        ours, base = [], []
        bare_containers = []
        profile = Profile()
        for index in range(args.count):
            slug = f"bench-{index}"
            asked, started = time.time(), time.perf_counter()
            response = stack.api("POST", "/instances", json={"slug": slug, "app": "hello"})
            api_answered = time.time()
            assert response.status_code == 202, response.text
            stack.wait_answer(slug, f"Hello from {slug}")
            ours.append(time.perf_counter() - started)
            if args.profile:
                profile.record(stack, slug, "provision", asked, time.time(), api_answered=api_answered)
            took, container = bare_provision(client, index, bare_labels)
            base.append(took)
            bare_containers.append(container)
        print(f"provision x {args.count}, hello app, one at a time, proxy: {args.routing}")
        summary("provision → answers", ours, base)
        if args.profile:
            profile.print("provision")

        # --- wake from hibernation -----------------------------------------------------------
        ours, base = [], []
        http = requests.Session()
        http.trust_env = False
        profile = Profile()
        for index in range(args.count):
            slug = f"bench-{index}"
            stack.hibernate(slug)
            asked, started = time.time(), time.perf_counter()
            stack.wait_answer(slug, f"Hello from {slug}")  # first request wakes it, then polls like the page
            ours.append(time.perf_counter() - started)
            if args.profile:
                profile.record(stack, slug, "wake", asked, time.time())
            container = bare_containers[index]
            container.stop()
            started = time.perf_counter()
            container.start()
            wait_http(http, f"http://{bare_subnet(index)[2]}:8080/")
            base.append(time.perf_counter() - started)
        summary("wake → answers", ours, base)
        if args.profile:
            profile.print("wake")

        # --- memory with many instances under management ------------------------------------
        for index in range(args.count, args.managed):
            response = stack.api("POST", "/instances", json={"slug": f"bench-{index}", "app": "hello"})
            assert response.status_code == 202, response.text
        for index in range(args.count, args.managed):
            stack.wait_status(f"bench-{index}", "running", timeout=120)
        listed = []
        while True:  # the API pages at most API_PAGE rows (a bigger limit is refused, 422)
            page = stack.api("GET", "/instances", params={"limit": API_PAGE, "offset": len(listed)}).json()
            listed += page["items"]
            if not page["items"] or len(listed) >= page["count"]:
                break
        running = sum(1 for i in listed if i["status"] == "running")
        time.sleep(2)
        plane, proxy = stack.control_plane_rss_mb()
        print(f"memory with {len(listed)} instances managed ({running} running): control plane (web + worker) "
              f"{plane:.0f} MB RSS, {args.routing.capitalize()} {proxy:.0f} MB RSS")
    finally:
        stack.stop()
        remove_labelled(bare_installation)


if __name__ == "__main__":
    main()
