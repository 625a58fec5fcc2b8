"""API latency with many instances under management, without Docker (issue 15).

    .venv/bin/python bench/api_latency.py [--count 1000] [--rounds 200] [--profile] [--no-http]
                                          [--writer-ms 0]

Builds `--count` instances of the hello app in a throwaway SQLite database (rows as a real run
leaves them: subnet, status running, a provision and a restart operation with their steps, the
creation's audit row) for the operators' team with one API key, then sends `--rounds` sequential
`GET /api/v1/instances` (one page: the default 100 rows) and `GET /api/v1/instances/<slug>`:

- in-process (Django's test client): p50/p99, and the queries of one request of each;
- over HTTP, through gunicorn started as `tenantry up` starts it (2 workers, 4 threads): p50/p99.

`--writer-ms N`: meanwhile a second process writes back-to-back transactions holding SQLite's
write lock N ms each (`--writer-gap-ms` apart), as the worker's bookkeeping does for a thousand instances (a metering
collector's transaction per instance every minute, heartbeats, steps), so that what waits for
that lock shows.
`--profile`: the top functions (cProfile, cumulative) of the in-process list requests.

Prints the load average with the figures: on a shared machine they are only comparable within
one run. The rate limiter stays on, counted in the database (the default without Redis), at a
rate the bench never reaches.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA_DIR = Path(tempfile.mkdtemp(prefix="tenantry-apilat-"))
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "tenantry.settings",
    "TENANTRY_DATA_DIR": str(DATA_DIR),
    "TENANTRY_API_RATE_LIMIT_PER_MINUTE": "100000000",
    "TENANTRY_API_RATE_LIMIT_PER_IP_PER_MINUTE": "100000000",
    "TENANTRY_API_RATE_LIMIT_STORE": "database",
})
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

import logging  # noqa: E402

import tenantry.wsgi  # noqa: E402, F401  what a web worker loads at start (since issue 15: and freezes)

# The request log lines (one per request, as in production) go to a file, not between the figures.
for _handler in logging.getLogger().handlers:
    if isinstance(_handler, logging.StreamHandler):
        _handler.setStream((DATA_DIR / "requests.log").open("a"))

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from provision import free_port, pct  # noqa: E402


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build(count: int) -> str:
    """`count` running hello instances and an API key; returns the key."""
    from tenantry.accounts.services.api_keys import api_key_create
    from tenantry.accounts.services.teams import operator_team
    from tenantry.catalog.registry import get_app
    from tenantry.core.models import AuditEvent
    from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status, Step
    from tenantry.instances.operations import PLANS, STEP_TITLES
    from tenantry.runtime.placement import default_server

    team = operator_team()
    server = default_server()
    spec = get_app("hello")
    size = spec.default_resources()
    now = timezone.now()
    instances = [Instance(
        team=team, slug=f"al{index:05d}", app=spec.name, app_version=spec.version, server=server,
        subnet=f"10.{100 + index // 2048}.{index // 8 % 256}.{index % 8 * 32}/27", memory_mb=size.memory_mb,
        cpus=Decimal(str(size.cpus)), pids=size.pids, status=Status.RUNNING, created_by="api-key:bench",
        options={"templates": list(spec.templates.default)} if spec.templates.default else {},
        running_since=now, provisioned_at=now, last_request_at=now - timedelta(seconds=index))
        for index in range(count)]
    Instance.objects.bulk_create(instances, batch_size=500)
    operations, steps = [], []
    for instance in instances:
        for kind in (OperationKind.PROVISION, OperationKind.RESTART):
            operation = Operation(instance=instance, kind=kind, actor="api-key:bench", status=OperationStatus.SUCCEEDED,
                                  runs=1, worker="bench", started_at=now, finished_at=now, heartbeat_at=now)
            operations.append(operation)
            steps += [Step(operation=operation, position=position, name=name, title=STEP_TITLES[name],
                           status="succeeded", attempts=1, started_at=now, finished_at=now, log=f"{name}: done\n")
                      for position, name in enumerate(PLANS[kind], start=1)]
    Operation.objects.bulk_create(operations, batch_size=500)
    Step.objects.bulk_create(steps, batch_size=500)
    AuditEvent.objects.bulk_create([AuditEvent(actor="api-key:bench", action="instance.create",
                                               target_type="instances.instance", target_id=str(i.pk),
                                               team_id=team.pk, data={"slug": i.slug, "app": i.app})
                                    for i in instances], batch_size=500)
    return api_key_create(team=team, name="bench").plaintext


class GcPauses:
    """The garbage collector's pauses in this process, by generation."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def __str__(self) -> str:
        return ", ".join(f"gen{gen} {len(p)}x max {max(p, default=0):.1f} ms" for gen, p in self.pauses.items())


def timed(call: Callable[[], int], rounds: int) -> tuple[float, float, str]:
    times = []
    with GcPauses() as pauses:
        for _ in range(rounds):
            started = time.perf_counter()
            status = call()
            times.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    return pct(times, 0.5), pct(times, 0.99), str(pauses)


def line(name: str, p50: float, p99: float, pauses: str = "") -> str:
    return f"  {name:<34} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   (load {load()}){'  gc: ' + pauses if pauses else ''}"


def in_process(token: str, slugs: list[str], rounds: int, profile: bool) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost")
    for path in ("/api/v1/instances", f"/api/v1/instances/{slugs[0]}"):
        assert client.get(path).status_code == 200  # warm: first imports, the key's last use
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        print(f"  {path:<34} {len(queries)} queries")
        for query in queries:
            print(f"      {query['time']:>6} s  {query['sql'][:150]}")
    shows = iter(slugs * (rounds // len(slugs) + 1))
    print(line("list (page of 100), in-process", *timed(lambda: client.get("/api/v1/instances").status_code, rounds)))
    print(line("show, in-process", *timed(lambda: client.get(f"/api/v1/instances/{next(shows)}").status_code,
                                          rounds)))
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(rounds // 4):
            client.get("/api/v1/instances")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def writer(milliseconds: float, gap_ms: float) -> subprocess.Popen:
    """A process writing to the database the way the worker's bookkeeping does with a thousand
    instances (a metering collector's transaction per instance, heartbeats, steps): back-to-back
    short write transactions, each holding SQLite's write lock `milliseconds`, `gap_ms` apart
    (the Python work between two instances' transactions)."""
    code = f"""
import sqlite3, time
db = sqlite3.connect({str(DATA_DIR / 'tenantry.sqlite3')!r}, timeout=30, isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS bench_writer (n INTEGER)")
while True:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO bench_writer VALUES (1)")
    time.sleep({milliseconds / 1000})
    db.execute("COMMIT")
    time.sleep({gap_ms / 1000})
"""
    return subprocess.Popen([sys.executable, "-c", code])


def cpu_ms(parent: int) -> float:
    """CPU time (user + system) of `parent`'s child processes (gunicorn's workers), in ms: what
    the requests cost the server, much less disturbed than their duration by other processes
    taking the shared cores."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total * 1000 / ticks


def over_http(token: str, slugs: list[str], rounds: int) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # As `tenantry up` starts its web server (tenantry/core/management/commands/up.py).
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "tenantry.wsgi:application", "--bind",
                               f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--graceful-timeout", "5",
                               "--no-control-socket"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=(DATA_DIR / "gunicorn.log").open("wb"))
    http = requests.Session()
    http.trust_env = False
    http.headers["Authorization"] = f"Bearer {token}"
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get(f"{base}/instances", params={"limit": 1}, timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"gunicorn did not answer; see {DATA_DIR / 'gunicorn.log'}")
            time.sleep(0.2)
        for _ in range(20):  # every worker and thread warm (imports, connections)
            http.get(f"{base}/instances", timeout=30)
            http.get(f"{base}/instances/{slugs[0]}", timeout=30)
        page = http.get(f"{base}/instances", timeout=30).json()
        assert len(page["items"]) == min(100, len(slugs)), page.get("count")
        shows = iter(slugs * (rounds // len(slugs) + 1))
        for name, path in (("list (page of 100), HTTP", lambda: "/instances"),
                           ("show, HTTP", lambda: f"/instances/{next(shows)}")):
            used = cpu_ms(server.pid)
            p50, p99, _ = timed(lambda path=path: http.get(f"{base}{path()}", timeout=30).status_code, rounds)  # type: ignore[misc]
            print(line(name, p50, p99) + f"  server CPU {(cpu_ms(server.pid) - used) / rounds:.1f} ms/request")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--writer-ms", type=float, default=0)
    parser.add_argument("--writer-gap-ms", type=float, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    token = build(args.count)
    from tenantry.instances.models import Instance

    slugs = list(Instance.objects.order_by("?").values_list("slug", flat=True)[:args.rounds])
    connection.close()
    print(f"{args.count} instances built in {time.perf_counter() - started:.1f} s ({DATA_DIR}); load {load()}")
    background = writer(args.writer_ms, args.writer_gap_ms) if args.writer_ms else None
    try:
        in_process(token, slugs, args.rounds, args.profile)
        connection.close()
        if not args.no_http:
            over_http(token, slugs, args.rounds)
    finally:
        if background is not None:
            background.terminate()
            background.wait()
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
