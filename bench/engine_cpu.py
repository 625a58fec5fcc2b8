"""Where the Docker engine's CPU goes per instance, with few and with many on it (issue 15).

    python bench/engine_cpu.py [--count 1000] [--sample 48] [--concurrency 8] [--pool 10.252.0.0/16]

Tenantry is not involved: this is bare Docker doing what bench/provision.py's baseline does (a
network with its subnet, a volume, a `hello` container with limits, started until it answers
HTTP; removal: container by force, volume, network). `--sample` instances are created and then
removed, `--concurrency` at a time, under `perf record -a` (every process and the kernel), first
with nothing else of this bench on the engine, then again with `--count` instances on it. It
prints the CPU each command used per instance created and per instance removed, at both ends.

Why: at 1,000 instances this 2-core machine is CPU-bound while instances are created, so the rate
at 1,000 relative to the rate with few is about the inverse of how much the CPU per instance grew.
That bounds what any control plane on this engine can reach, whatever it does itself.

Needs `perf` (Debian: `apt-get install linux-perf`). Everything it made is removed at the end,
also when interrupted (SIGINT, SIGTERM).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ipaddress
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provision import bare_provision, bare_remove

LABEL = "tenantry.bench-engine-cpu"
FREQUENCY = 499  # samples per second per CPU: a prime, not in step with timers
# Commands shown on their own; the rest is summed under "other". `exe` is what runs from
# /proc/self/exe: `runc init` and dockerd's own prestart hook (libnetwork-setkey).
SHOWN = ("dockerd", "exe", "runc", "containerd-shim", "containerd", "docker-init", "iptables", "kernel threads")
KERNEL_THREADS = ("kworker", "ksoftirqd", "kdamond", "rcu_", "migration", "kswapd", "khugepaged")
NOT_COUNTED = ("swapper", "perf", "python", "python3")  # idle, this bench and its profiler


def group(command: str) -> str:
    if command.startswith("runc"):
        return "runc"  # runc, runc:[0:PARENT], runc:[1:CHILD], runc:[2:INIT]
    if command.startswith(KERNEL_THREADS):
        return "kernel threads"
    return command if command in SHOWN else "other"


def profiled(phase: str, work: Any, directory: Path) -> tuple[float, dict[str, float]]:
    """Run `work()` under `perf record -a`; (its seconds, CPU seconds by command group)."""
    data = directory / f"{phase}.data"
    perf = subprocess.Popen(["perf", "record", "-a", "-F", str(FREQUENCY), "-o", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf has opened its events
    started = time.perf_counter()
    try:
        work()
    finally:
        took = time.perf_counter() - started
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
    report = subprocess.run(["perf", "report", "-i", str(data), "--sort", "comm", "--stdio", "-F", "sample,comm"],
                            capture_output=True, text=True, check=True).stdout
    seconds: dict[str, float] = collections.defaultdict(float)
    for line in report.splitlines():
        parts = line.split(None, 1)
        if len(parts) != 2 or line.startswith("#") or not parts[0].isdigit():
            continue
        command = parts[1].strip()
        if not command.startswith(NOT_COUNTED):
            seconds[group(command)] += int(parts[0]) / FREQUENCY
    return took, seconds


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client = docker.from_env(timeout=300)
        self.subnets = list(ipaddress.IPv4Network(args.pool).subnets(new_prefix=27))
        if len(self.subnets) < args.count + args.sample:
            raise SystemExit(f"--pool {args.pool} holds {len(self.subnets)} /27s: fewer than --count + --sample")
        self.labels = {LABEL: "1"}

    def name(self, index: int) -> str:
        return f"engine-cpu-{index}"

    def run_all(self, call: Any, items: Iterable[Any]) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(self.args.concurrency) as pool:
            list(pool.map(call, items))
        return time.perf_counter() - started

    def create(self, index: int) -> None:
        bare_provision(self.client, index, self.labels, name=self.name(index), subnet=self.subnets[index])

    def remove(self, index: int) -> None:
        bare_remove(self.client, self.name(index))

    def sample(self, directory: Path, tag: str) -> dict[str, Any]:
        """Create then remove --sample instances (numbered after --count) under the profiler."""
        sample = range(self.args.count, self.args.count + self.args.sample)
        made, made_cpu = profiled(f"{tag}-create", lambda: self.run_all(self.create, sample), directory)
        removed, removed_cpu = profiled(f"{tag}-remove", lambda: self.run_all(self.remove, sample), directory)
        return {"create_rate": len(sample) / made, "remove_rate": len(sample) / removed,
                "create": made_cpu, "remove": removed_cpu}

    def cleanup(self) -> None:
        """Everything labelled by this bench, containers first, `--concurrency` at a time."""
        api, flt = self.client.api, {"label": LABEL}

        def each(remove: Any, names: list[str]) -> None:
            def one(name: str) -> None:
                with contextlib.suppress(docker.errors.NotFound):
                    remove(name)
            self.run_all(one, names)

        each(lambda n: api.remove_container(n, force=True), [c["Id"] for c in api.containers(all=True, filters=flt)])
        each(lambda n: api.remove_volume(n, force=True), [v["Name"] for v in api.volumes(filters=flt)["Volumes"] or []])
        each(api.remove_network, [n["Id"] for n in api.networks(filters=flt)])


def table(kind: str, few: dict[str, Any], many: dict[str, Any], count: int, sample: int) -> list[str]:
    lines = [f"CPU ms per instance {kind}d ({sample} {kind}d, with few -> with {count} on the engine):"]
    names = sorted(set(few[kind]) | set(many[kind]), key=lambda n: -many[kind].get(n, 0))
    for name in names:
        before, after = few[kind].get(name, 0) * 1000 / sample, many[kind].get(name, 0) * 1000 / sample
        growth = f"  x{after / before:.2f}" if before >= 1 else ""
        lines.append(f"  {name:<16} {before:7.1f} -> {after:7.1f}{growth}")
    total_few, total_many = (sum(d[kind].values()) * 1000 / sample for d in (few, many))
    lines.append(f"  {'engine in all':<16} {total_few:7.1f} -> {total_many:7.1f}  x{total_many / total_few:.2f}")
    rate_few, rate_many = few[f"{kind}_rate"], many[f"{kind}_rate"]
    lines.append(f"  {kind}d per second: {rate_few:.2f} -> {rate_many:.2f} ({rate_many / rate_few * 100:.0f} %; "
                 f"CPU per instance few/many: {total_few / total_many * 100:.0f} %)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="instances on the engine for the second sample")
    parser.add_argument("--sample", type=int, default=48, help="instances created and removed under the profiler")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool", default="10.252.0.0/16", help="subnets for this bench's networks (/27 each)")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed (Debian: apt-get install linux-perf)")
    bench = Bench(args)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    try:
        with tempfile.TemporaryDirectory(prefix="engine-cpu-") as scratch:
            directory = Path(scratch)
            few = bench.sample(directory, "few")
            tenth = max(1, args.count // 10)
            print(f"bench/engine_cpu.py: filling to {args.count} bare instances, {args.concurrency} at once",
                  flush=True)
            for start in range(0, args.count, tenth):
                stop = min(start + tenth, args.count)
                took = bench.run_all(bench.create, range(start, stop))
                print(f"  instances {start + 1:>5}-{stop:<5} {(stop - start) / took:5.2f} created/s", flush=True)
            many = bench.sample(directory, "many")
        for kind in ("create", "remove"):
            print("\n".join(table(kind, few, many, args.count, args.sample)))
    except KeyboardInterrupt as exc:
        print(f"interrupted ({str(exc) or 'SIGINT'}): cleaning up", file=sys.stderr)
    finally:
        started = time.perf_counter()
        bench.cleanup()
        # After a full run this is bare Docker deleting all --count (bench/scale.py's delete-all).
        print(f"cleanup (every container, then volume, then network, {args.concurrency} at once): "
              f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
