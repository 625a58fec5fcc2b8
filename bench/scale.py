"""One control plane with many instances: does it stay steady? (issue 15, part 2)

    .venv/bin/python bench/scale.py [--count 1000] [--concurrency 8] [--subnet-pool 10.251.0.0/16]
                                    [--routing traefik|caddy]

Starts `tenantry up` in its own data directory, installation id, resource prefix and subnet pool
(like bench/provision.py), then through the API, with `--concurrency` clients creating the hello
app at once, until `--count` instances run. It prints, measured in this one run:

- the creation rate (instances running per second) of each tenth of the count, and the last
  tenth's rate as a share of the first's (goal: >= 90 %);
- API latency p50/p99 of list (one page) and show, after the first tenth and at the full count
  (goal: p99 < 50 ms);
- the cost of a bare `docker network create` with few and with `--count` networks on the engine
  (the baseline for how much of a slowdown is Docker's own);
- the same for bare Docker's provisioning and removal (bench/provision.py's baseline, as many at
  once as `--concurrency`): its rate with few and with `--count` instances on the engine;
- one reconciler pass with nothing changed, and one after a container was removed behind
  Tenantry's back (goal: < 2 s; the healed instance must be found);
- the control plane's resident memory (web + worker processes; Traefik apart);
- deleting every instance with concurrent DELETE requests, until all are gone (goal: < 120 s).

Everything it created is removed at the end, also when interrupted (SIGINT, SIGTERM): the stack is
stopped, then every container, network and volume carrying its installation label or its resource
prefix is removed.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provision import BIN, ROOT, Stack, api_timestamp, bare_provision, bare_remove, pct

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")


class Interrupted(Exception):
    pass


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def uptime_load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def latency(name: str, call: Callable[[], requests.Response], rounds: int) -> str:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    p50, p99 = pct(times, 0.5), pct(times, 0.99)
    goal = "met" if p99 < 50 else "MISSED"
    return f"  {name:<30} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   (goal p99 < 50 ms: {goal})"


class ScaleRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = Stack(args.routing)
        self.prefix = self.stack.env["TENANTRY_RESOURCE_PREFIX"].replace("bn", "sc", 1)
        self.stack.env.update({
            "TENANTRY_RESOURCE_PREFIX": self.prefix,
            "TENANTRY_SUBNET_POOL": args.subnet_pool,
            # The limiter stays on (its cost is part of every request) at a rate the bench never reaches.
            "TENANTRY_API_RATE_LIMIT_PER_MINUTE": "100000000",
            "TENANTRY_API_RATE_LIMIT_PER_IP_PER_MINUTE": "100000000",
            # Idle instances must not hibernate while the bench counts them.
            "TENANTRY_HIBERNATE_AFTER_SECONDS": "0",
            # One worker thread per concurrent client: with the default 4, eight clients measured
            # the queue's wait, not the control plane's work (a thread mostly waits on Docker).
            "TENANTRY_WORKER_THREADS": str(args.concurrency),
            # Delete-all measures removing instances, not saving a thousand final backups (a plan
            # can turn them off the same way: `final_backup_on_delete`).
            "TENANTRY_BACKUP_FINAL_ON_DELETE": "0",
            # gunicorn 27 binds one control socket per user ($HOME/.gunicorn/gunicorn.ctl) for every
            # master on the machine: twice this run's web server got a SIGTERM it never asked
            # for while other stacks started and stopped beside it.
            "GUNICORN_CMD_ARGS": "--no-control-socket",
        })
        self.client = docker.from_env(timeout=120)
        self.stop_event = threading.Event()
        self.done_at: list[float] = []
        self.lock = threading.Lock()
        self.slugs: list[str] = []
        # Operation ids by index of their instance (creates) and of deletions: their steps' times.
        self.create_operations: dict[int, str] = {}
        self.delete_operations: list[str] = []

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        # A loaded shared machine can stall one answer for seconds: wait longer than the stack's 30 s.
        # A connection reset (the web server restarted by the stack's supervisor: on this shared
        # machine its gunicorn got SIGTERMs nobody here sent) is asked again: GETs are safe to
        # repeat, creates carry an Idempotency-Key, and a repeated DELETE is accepted below.
        for attempt in range(20):
            try:
                return self.stack.http.request(method, f"http://127.0.0.1:{self.stack.web_port}/api/v1{path}",
                                               timeout=300, **kwargs)  # type: ignore[arg-type]
            except requests.ConnectionError:
                if attempt == 19 or self.stop_event.is_set():
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    # --- creation ------------------------------------------------------------------------------
    def _create_one(self, index: int) -> None:
        if self.stop_event.is_set():
            return
        slug = f"sc{index:05d}"
        response = self.api("POST", "/instances", json={"slug": slug, "app": "hello"},
                            headers={"Idempotency-Key": f"create-{slug}"})
        assert response.status_code == 202, response.text[:300]
        operation = response.json()["operation"]["id"]
        self.create_operations[index] = operation
        while not self.stop_event.is_set():
            status = self.api("GET", f"/operations/{operation}").json()["status"]
            if status == "succeeded":
                break
            if status == "failed":
                raise RuntimeError(f"{slug}: provisioning failed")
            # Not faster: eight clients polling every 0.1 s were 80 requests a second, enough to
            # take the 2 cores from the worker they wait for.
            time.sleep(self.args.poll_seconds)
        with self.lock:
            self.done_at.append(time.perf_counter())
            self.slugs.append(slug)

    def create(self, start: int, stop: int) -> None:
        self.run_all(self._create_one, range(start, stop))

    def run_all(self, call: Callable[[Any], None], items: Iterable[Any]) -> None:
        """`call` on every item, `--concurrency` at a time; re-raises the first failure."""
        pool = ThreadPoolExecutor(self.args.concurrency)
        try:
            for future in [pool.submit(call, item) for item in items]:
                future.result()
        except BaseException:
            # Interrupted or failed: drop the calls not started (the `with` form waits for them all).
            self.stop_event.set()
            raise
        finally:
            pool.shutdown(wait=not self.stop_event.is_set(), cancel_futures=True)

    def api_latencies(self, managed: int, chooser: random.Random) -> list[str]:
        shows = iter(chooser.choices(self.slugs, k=self.args.api_rounds))
        rounds = self.args.api_rounds
        return [latency(f"list (page of 100) at {managed}", lambda: self.api("GET", "/instances"), rounds),
                latency(f"show at {managed}", lambda: self.api("GET", f"/instances/{next(shows)}"),
                        rounds)]

    def step_medians(self, operations: list[str], sample: int = 60) -> str:
        """Median duration of each step over a sample of operations, in their order: where an
        operation's time goes. Then the operation's wait in the queue (created -> started) and
        its time outside its steps (started -> finished, less the steps: the engine's bookkeeping)."""
        durations: dict[str, list[float]] = {}
        for operation in random.Random(7).sample(operations, min(sample, len(operations))):
            shown = self.api("GET", f"/operations/{operation}").json()
            timed = [step for step in shown["steps"] if step["duration_seconds"] is not None]
            for step in timed:
                durations.setdefault(step["name"], []).append(step["duration_seconds"] * 1000)
            created, started, finished = (api_timestamp(shown[key])
                                          for key in ("created_at", "started_at", "finished_at"))
            if created is not None and started is not None and finished is not None:
                durations.setdefault("(queued)", []).append((started - created) * 1000)
                durations.setdefault("(outside steps)", []).append(
                    (finished - started - sum(step["duration_seconds"] for step in timed)) * 1000)
        return ", ".join(f"{name} {statistics.median(times):.0f}" for name, times in durations.items())

    # --- the baseline: Docker's own network creation ----------------------------------------------
    def bare_network_seconds(self, rounds: int = 10) -> float:
        """Median time of `docker network create` (explicit subnet, like Tenantry's) + remove, on
        subnets from the top of the pool that instances do not reach."""
        pool = list(ipaddress.IPv4Network(self.args.subnet_pool).subnets(new_prefix=27))
        times = []
        for offset in range(rounds):
            subnet = pool[-1 - offset]
            started = time.perf_counter()
            network = self.client.networks.create(
                f"{self.prefix}-bare-{offset}", driver="bridge",
                labels={"tenantry.bench": self.prefix},  # not the installation's: see bare_rates
                ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                    subnet=str(subnet), gateway=str(next(subnet.hosts())))]))
            times.append(time.perf_counter() - started)
            network.remove()
        return pct(times, 0.5)

    def bare_rates(self, count: int) -> tuple[float, float]:
        """(provisioned per second, removed per second) by bare Docker, `--concurrency` at a time:
        bench/provision.py's physical baseline (network with its subnet, volume, container with
        limits, start, until it answers HTTP), then its removal (container by force, volume,
        network). The share of Tenantry's slowdown at `--count` that is Docker's own. Subnets from
        the top of the pool, under bare_network_seconds' ten."""
        pool = list(ipaddress.IPv4Network(self.args.subnet_pool).subnets(new_prefix=27))
        # Not the stack's installation label: its reconciler would remove them as orphans while
        # they are timed. Their names carry the run's prefix, which the clean-up sweeps.
        labels = {"tenantry.bench": self.prefix}
        names = [f"{self.prefix}-bare-run-{n}" for n in range(count)]
        started = time.perf_counter()
        self.run_all(lambda n: bare_provision(self.client, n, labels, name=names[n], subnet=pool[-11 - n]),
                     range(count))
        provisioned = count / (time.perf_counter() - started)
        started = time.perf_counter()
        self.run_all(lambda name: bare_remove(self.client, name), names)
        return provisioned, count / (time.perf_counter() - started)

    # --- reconciler ------------------------------------------------------------------------------
    def reconcile_pass(self) -> tuple[float, str]:
        """One pass in a `tenantry reconcile` process: its own duration as the command prints it
        (the engine's connection, with its firewall check of every network, is printed apart)."""
        started = time.perf_counter()
        result = subprocess.run([str(BIN / "tenantry"), "reconcile"], env=self.stack.env, capture_output=True,
                                text=True, check=True)
        match = re.search(r"; in ([0-9.]+) s", result.stdout)
        # The command prints its pass's own duration; an older one does not (then: the whole
        # command, Django's start included).
        took = float(match.group(1)) if match else time.perf_counter() - started
        return took, result.stdout.strip()

    # --- deletion --------------------------------------------------------------------------------
    def delete_all(self) -> float:
        started = time.perf_counter()

        def delete(slug: str) -> None:
            response = self.api("DELETE", f"/instances/{slug}")
            # 409: already being deleted (a DELETE repeated after a connection reset).
            assert response.status_code in (202, 409), response.text[:300]
            if response.status_code == 202:
                with self.lock:
                    self.delete_operations.append(response.json()["id"])  # the operation itself

        self.run_all(delete, list(self.slugs))
        deadline = time.monotonic() + self.args.delete_timeout
        while time.monotonic() < deadline:
            if self.api("GET", "/instances", params={"limit": 1}).json()["count"] == 0:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"instances still there after {self.args.delete_timeout} s")
        took = time.perf_counter() - started
        left = self.client.containers.list(all=True, sparse=True,
                                           filters={"label": f"tenantry.installation={self.stack.installation}"})
        assert not left, f"{len(left)} containers left after deleting every instance"
        return took

    # --- cleanup ---------------------------------------------------------------------------------
    def cleanup(self) -> None:
        self.stop_event.set()
        try:
            if self.stack.process:
                os.killpg(self.stack.process.pid, signal.SIGTERM)
                self.stack.process.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if self.stack.process:
                os.killpg(self.stack.process.pid, signal.SIGKILL)
        sweep(self.client, self.stack.installation, self.prefix)


def sweep(client: docker.DockerClient, installation: str, prefix: str) -> None:
    """Remove what this run made: its installation's labelled resources through the product's own
    runtime (which also drops its firewall rules), then anything named with its prefix."""
    import django

    django.setup()
    from tenantry.runtime.backends.base import ManagedResource
    from tenantry.runtime.backends.docker import DockerRuntime

    runtime = DockerRuntime(installation_id=installation)
    found = runtime.list_managed()
    names = {(r.kind, r.name) for r in found}
    by_prefix = [ManagedResource("container", c.name, "") for c in client.containers.list(
        all=True, filters={"name": prefix + "-"})]
    by_prefix += [ManagedResource("network", n.name, "") for n in client.networks.list(names=[prefix + "-"])]
    by_prefix += [ManagedResource("volume", v.name, "") for v in client.volumes.list(filters={"name": prefix + "-"})]
    found += [r for r in by_prefix if r.name.startswith(prefix + "-") and (r.kind, r.name) not in names]
    for kind in ("container", "network", "volume"):
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(runtime.remove_resource, [r for r in found if r.kind == kind]))
    runtime.close()
    print(f"cleanup: removed {len(found)} containers, networks and volumes of {installation} / {prefix}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--subnet-pool", default="10.251.0.0/16",
                        help="a /16 gives 2,048 /27 subnets: room for the instances and the baseline's networks")
    parser.add_argument("--routing", choices=("traefik", "caddy"), default="traefik",
                        help="the proxy `tenantry up` runs (TENANTRY_ROUTING)")
    parser.add_argument("--api-rounds", type=int, default=200)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often a client asks if its create is done")
    parser.add_argument("--bare-count", type=int, default=40,
                        help="bare Docker provisions timed (and removed) with few and with --count instances")
    parser.add_argument("--delete-timeout", type=float, default=1800)
    parser.add_argument("--sweep", nargs=2, metavar=("INSTALLATION", "PREFIX"),
                        help="only remove what an earlier run left (its installation id and prefix, as printed)")
    args = parser.parse_args()
    if args.sweep:
        sweep(docker.from_env(timeout=120), *args.sweep)
        return
    if args.count < 10 or args.count % 10:
        parser.error("--count must be a multiple of 10, at least 10")
    subprocess.run([str(ROOT / "scripts/build-hello-image.sh")], check=True, capture_output=True)
    signal.signal(signal.SIGTERM, _interrupt)
    run = ScaleRun(args)
    tenth = args.count // 10
    print(f"bench/scale.py: {args.count} hello instances, {args.concurrency} concurrent creates; "
          f"proxy {args.routing}; installation {run.stack.installation}, prefix {run.prefix}; load {uptime_load()}")
    try:
        bare_few = run.bare_network_seconds()
        bare_made_few, bare_removed_few = run.bare_rates(args.bare_count)
        run.stack.start()
        stack = run.stack
        rates: list[float] = []
        started = time.perf_counter()
        previous_end = started
        api_lines: list[str] = []
        step_lines: list[str] = []
        for decile in range(10):
            run.create(decile * tenth, (decile + 1) * tenth)
            end = max(run.done_at)
            rates.append(tenth / (end - previous_end))
            previous_end = end
            answer = stack.proxy_get(run.slugs[-1])
            assert answer.status_code == 200 and "Hello from" in answer.text, answer.status_code
            print(f"  instances {decile * tenth + 1:>5}-{(decile + 1) * tenth:<5} {rates[-1]:5.2f} created/s"
                  f"   (load {uptime_load()})", flush=True)
            if decile in (0, 9):
                api_lines += run.api_latencies((decile + 1) * tenth, random.Random(decile))
                step_lines.append(f"  steps of instances {decile * tenth + 1}-{(decile + 1) * tenth} (median ms): "
                                  + run.step_medians([run.create_operations[i] for i in
                                                      range(decile * tenth, (decile + 1) * tenth)]))
        total = time.perf_counter() - started
        print(f"creation: {args.count} in {total:.0f} s ({args.count / total:.2f}/s); last tenth at "
              f"{rates[-1] / rates[0] * 100:.0f} % of the first's rate (goal >= 90 %: "
              f"{'met' if rates[-1] >= 0.9 * rates[0] else 'MISSED'})")
        print("\n".join(step_lines))
        print("API latency (sequential requests, one API key):")
        print("\n".join(api_lines))
        bare_many = run.bare_network_seconds()
        print(f"bare `docker network create`: {bare_few * 1000:.0f} ms with few networks, {bare_many * 1000:.0f} ms "
              f"with {args.count} more (x{bare_many / bare_few:.2f}: Docker's own slowdown)")
        bare_made, bare_removed = run.bare_rates(args.bare_count)
        print(f"bare Docker ({args.bare_count} hello containers, each on its network with its volume, "
              f"{args.concurrency} at once), with few instances -> with {args.count}:")
        print(f"  provisioned {bare_made_few:.2f}/s -> {bare_made:.2f}/s ({bare_made / bare_made_few * 100:.0f} %: "
              f"Docker's own drop; Tenantry's last tenth: {rates[-1] / rates[0] * 100:.0f} %)")
        # A removal's cost grows about linearly with what the engine holds (measured at both ends),
        # so removing all N costs N times the mean of its time per removal at N and at few.
        bare_delete_all = args.count * (1 / bare_removed + 1 / bare_removed_few) / 2
        print(f"  removed     {bare_removed_few:.2f}/s -> {bare_removed:.2f}/s (bare Docker would remove all "
              f"{args.count} in ~{bare_delete_all:.0f} s)")
        idle, first = run.reconcile_pass()
        connect = re.search(r"connected in ([0-9.]+) s", first)
        victim = random.Random(1).choice(run.slugs)
        for container in run.client.containers.list(filters={"name": f"{run.prefix}-{victim}-"}):
            container.remove(force=True)
        healing, output = run.reconcile_pass()
        if victim not in output:
            # The worker's own pass (every minute) may have found it first: then it is busy with
            # that START and this pass leaves it alone.
            latest = run.api("GET", f"/instances/{victim}/operations").json()[0]
            assert (latest["kind"], latest["actor"]) == ("start", "reconciler"), (output, latest)
        print(f"reconciler pass at {args.count}: {idle:.2f} s with nothing changed, {healing:.2f} s healing one "
              f"(goal < 2 s: {'met' if max(idle, healing) < 2 else 'MISSED'}); a new process's first connection to "
              f"the engine (firewall rules of every network checked): {connect.group(1) if connect else '?'} s")
        # Healed: running, and its START operation over (a DELETE meanwhile would be refused as busy).
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            shown = run.api("GET", f"/instances/{victim}").json()
            if shown["status"] == "running" and shown["active_operation"] is None:
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"{victim} was not healed")
        time.sleep(2)
        plane, proxy = stack.control_plane_rss_mb()
        print(f"memory at {args.count}: control plane (web + worker + edge) {plane:.0f} MB RSS, "
              f"{args.routing.capitalize()} {proxy:.0f} MB RSS")
        took = run.delete_all()
        print(f"delete all {args.count} ({args.concurrency} concurrent requests): {took:.0f} s "
              f"(goal < 120 s: {'met' if took < 120 else 'MISSED'}; x{took / bare_delete_all:.2f} bare Docker's "
              f"~{bare_delete_all:.0f} s)   (load {uptime_load()})")
        print(f"  steps of a deletion (median ms): {run.step_medians(run.delete_operations)}")
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"interrupted ({str(exc) or 'SIGINT'}): cleaning up", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        run.cleanup()


if __name__ == "__main__":
    main()
