"""Where a reconciler pass and a deletion spend their time, with a few hundred instances (issue 15).

    .venv/bin/python bench/reconcile_profile.py up --count 300     # a stack with 300 hello instances
    .venv/bin/python bench/reconcile_profile.py profile            # one pass, profiled and counted
    .venv/bin/python bench/reconcile_profile.py delete [--count 50]  # delete some, per-step timings
    .venv/bin/python bench/reconcile_profile.py down               # stop the stack, remove everything

`up` leaves the stack running (its state in --state, default /tmp/tenantry-reconcile-bench.json)
so that the other commands can look at it as often as needed; `down` removes what it made
(bench/scale.py --sweep INSTALLATION PREFIX does too). The subnet pool is TENANTRY_BENCH_SUBNET's.

`profile` runs one pass in this process with the stack's settings and prints: its duration, the
database queries it made, the engine's API calls, route files written, audit rows added, and
cProfile's top functions (cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provision import ROOT, SUBNET, pct, wait_http

STATE = Path("/tmp/tenantry-reconcile-bench.json")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def load_avg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def up(args: argparse.Namespace) -> None:
    from scale import ScaleRun

    subprocess.run([str(ROOT / "scripts/build-hello-image.sh")], check=True, capture_output=True)
    run = ScaleRun(argparse.Namespace(subnet_pool=str(SUBNET), concurrency=args.concurrency, poll_seconds=1.0))
    state = {"installation": run.stack.installation, "prefix": run.prefix, "data_dir": str(run.stack.data_dir),
             "web_port": run.stack.web_port, "env": {k: v for k, v in run.stack.env.items()
                                                      if k.startswith(("TENANTRY_", "DJANGO_", "GUNICORN_"))}}
    args.state.write_text(json.dumps(state))
    print(f"installation {run.stack.installation}, prefix {run.prefix}; load {load_avg()}", flush=True)
    run.stack.start()
    assert run.stack.process is not None
    state["pid"] = run.stack.process.pid
    state["token"] = run.stack.http.headers["Authorization"]
    args.state.write_text(json.dumps(state))
    started = time.perf_counter()
    step = max(1, args.count // 10)
    for start in range(0, args.count, step):
        run.create(start, min(args.count, start + step))
        print(f"  {len(run.slugs)} running after {time.perf_counter() - started:.0f} s (load {load_avg()})",
              flush=True)
    state["slugs"] = sorted(run.slugs)
    args.state.write_text(json.dumps(state))


def _django(state: dict) -> None:
    os.environ.update(state["env"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    import django

    django.setup()


class EngineCalls:
    """Counts the Docker SDK's HTTP requests (method + path without ids)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __enter__(self) -> EngineCalls:
        import docker.api.client

        self._original = docker.api.client.APIClient.send
        calls = self.calls

        def send(client, request, **kwargs):  # type: ignore[no-untyped-def]
            path = request.path_url.split("?")[0]
            calls[f"{request.method} {'/'.join(path.split('/')[:4])}"] += 1
            return self._original(client, request, **kwargs)

        docker.api.client.APIClient.send = send
        return self

    def __exit__(self, *exc: object) -> None:
        import docker.api.client

        docker.api.client.APIClient.send = self._original


def profile(args: argparse.Namespace) -> None:
    state = load(args.state)
    _django(state)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tenantry.core.models import AuditEvent as AuditLog
    from tenantry.instances.models import Instance, Status
    from tenantry.instances.reconciler import reconcile
    from tenantry.runtime.models import Server
    from tenantry.runtime.registry import runtime_for

    started = time.perf_counter()
    for server in Server.objects.filter(is_active=True):
        runtime_for(server).ping()  # connects (the firewall check of every network)
    print(f"engine connected in {time.perf_counter() - started:.2f} s")
    live = Instance.objects.exclude(status=Status.DELETED).count()
    routes_dir = Path(state["env"]["TENANTRY_DATA_DIR"]) / "traefik" / "dynamic"
    for attempt in range(args.passes):
        before = {p.name: p.stat().st_ino for p in routes_dir.glob("route-*.yml")}
        audits = AuditLog.objects.count()
        profiler = cProfile.Profile()
        with CaptureQueriesContext(connection) as queries, EngineCalls() as engine:
            started = time.perf_counter()
            profiler.enable()
            report = reconcile()
            profiler.disable()
            took = time.perf_counter() - started
        after = {p.name: p.stat().st_ino for p in routes_dir.glob("route-*.yml")}
        rewritten = sum(1 for name, ino in after.items() if before.get(name) != ino)
        print(f"pass {attempt + 1} over {live} live instances: {took:.2f} s ({took / max(live, 1) * 1000:.1f} ms "
              f"per instance), {len(queries)} queries, {sum(engine.calls.values())} engine calls "
              f"{dict(engine.calls.most_common(6))}, {rewritten} route files written, "
              f"{AuditLog.objects.count() - audits} audit rows; healed {report.healed}, "
              f"published {len(report.routes_published)}, errors {report.errors[:3]}; load {load_avg()}")
        shapes = Counter(q["sql"].split(" WHERE ")[0][:110] for q in queries.captured_queries)
        for sql, count in shapes.most_common(args.queries):
            print(f"    {count:5d} x {sql}")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)


def delete(args: argparse.Namespace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    state = load(args.state)
    http = requests.Session()
    http.trust_env = False
    http.headers["Authorization"] = state["token"]
    base = f"http://127.0.0.1:{state['web_port']}/api/v1"
    slugs = state["slugs"][-args.count:]
    started = time.perf_counter()

    def one(slug: str) -> None:
        response = http.delete(f"{base}/instances/{slug}", timeout=300)
        assert response.status_code in (202, 409), response.text[:300]

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(one, slugs))
    while True:
        count = http.get(f"{base}/instances", params={"limit": 1}, timeout=300).json()["count"]
        if count <= len(state["slugs"]) - len(slugs):
            break
        time.sleep(0.5)
    took = time.perf_counter() - started
    state["slugs"] = state["slugs"][:-args.count]
    args.state.write_text(json.dumps(state))
    print(f"deleted {len(slugs)} in {took:.1f} s ({len(slugs) / took:.2f}/s, {args.concurrency} concurrent); "
          f"load {load_avg()}")
    _django(state)
    from tenantry.instances.models import Operation, OperationKind

    steps: dict[str, list[float]] = {}
    for operation in Operation.objects.filter(kind=OperationKind.DELETE, instance__slug__in=slugs) \
            .prefetch_related("steps"):
        previous = operation.started_at
        for step in operation.steps.all():
            if step.started_at and step.finished_at:
                steps.setdefault(step.name, []).append((step.finished_at - step.started_at).total_seconds())
                if previous:
                    steps.setdefault("  gap before step", []).append((step.started_at - previous).total_seconds())
                previous = step.finished_at
        if operation.started_at and operation.created_at:
            steps.setdefault("queue (created → started)", []).append(
                (operation.started_at - operation.created_at).total_seconds())
        if operation.finished_at and operation.started_at:
            steps.setdefault("total (started → finished)", []).append(
                (operation.finished_at - operation.started_at).total_seconds())
    for name, values in steps.items():
        print(f"  {name:<30} p50 {pct(values, 0.5) * 1000:8.1f} ms  p95 {pct(values, 0.95) * 1000:8.1f} ms  "
              f"sum {sum(values):7.1f} s")


def _stop(state: dict) -> None:
    if state.get("pid"):
        try:
            os.killpg(state["pid"], signal.SIGTERM)
            for _ in range(60):
                os.killpg(state["pid"], 0)
                time.sleep(1)
        except ProcessLookupError:
            pass


def restart(args: argparse.Namespace) -> None:
    """The stack again on the same data (to run code changed since `up`)."""
    import requests
    from provision import BIN

    state = load(args.state)
    _stop(state)
    env = {**os.environ, **state["env"]}
    with (Path(state["data_dir"]) / "stack.log").open("ab") as log:
        process = subprocess.Popen([str(BIN / "tenantry"), "up"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    state["pid"] = process.pid
    args.state.write_text(json.dumps(state))
    started = time.perf_counter()
    http = requests.Session()
    http.trust_env = False
    wait_http(http, f"http://127.0.0.1:{state['web_port']}/healthz", timeout=600)
    print(f"restarted in {time.perf_counter() - started:.1f} s; load {load_avg()}")


def down(args: argparse.Namespace) -> None:
    import docker
    from scale import sweep

    state = load(args.state)
    _stop(state)
    os.environ.update(state["env"])
    sweep(docker.from_env(timeout=120), state["installation"], state["prefix"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, default=STATE)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("up")
    command.add_argument("--count", type=int, default=300)
    command.add_argument("--concurrency", type=int, default=8)
    command = commands.add_parser("profile")
    command.add_argument("--passes", type=int, default=2)
    command.add_argument("--top", type=int, default=35)
    command.add_argument("--queries", type=int, default=12)
    command = commands.add_parser("delete")
    command.add_argument("--count", type=int, default=50)
    command.add_argument("--concurrency", type=int, default=8)
    commands.add_parser("restart")
    commands.add_parser("down")
    args = parser.parse_args()
    {"up": up, "profile": profile, "delete": delete, "restart": restart, "down": down}[args.command](args)


if __name__ == "__main__":
    main()
