"""Metering benchmark on PostgreSQL: usage-event ingestion through the service the API calls
(batches of 1,000: validated item by item, duplicates dropped, order checked, all or nothing)
against a raw `COPY` of the same rows in the same transactions (a batch of 1,000 is what the API
acknowledges as stored, so each is committed on its own on both sides), in one run; then the
cost of one collection pass of the CPU/memory and traffic collectors over the installation's running instances.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tenantry_metering_bench \\
        .venv/bin/python bench/metering.py [--events 100000] [--instances 0] [--profile]

Goal: ingestion >= 20,000 events/s and a ratio (ingestion / COPY) >= 0.5. `--instances N`
starts N `hello` instances (real containers, ~2 MB each, and a Traefik of its own) to time the
collectors on, and removes them afterwards; the issue's figure is with 200. Set
TENANTRY_SUBNET_POOL to a pool nobody else uses on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tenantry_metering_bench"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--instances", type=int, default=0, help="start N hello instances to time the collectors")
    parser.add_argument("--rounds", type=int, default=10, help="alternating service / COPY rounds")
    parser.add_argument("--profile", action="store_true", help="then time each statement of 20 more batches")
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/metering.py runs on PostgreSQL: set DATABASE_URL=postgres://…")
    os.environ.setdefault("TENANTRY_DATA_DIR", tempfile.mkdtemp(prefix="tenantry-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    os.environ.setdefault("TENANTRY_LOG_LEVEL", "WARNING")
    # `--instances`: the provisioning runs in this process (no worker needed).
    os.environ.setdefault("TENANTRY_HUEY_IMMEDIATE", "1")
    if args.instances:  # a Traefik of the bench's own, on free ports
        import socket

        for name in ("TENANTRY_PROXY_PORT", "TENANTRY_PROXY_INTERNAL_PORT"):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                os.environ.setdefault(name, str(probe.getsockname()[1]))
    from billing_run import ensure_database

    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench = ingestion(args.events, args.rounds)
    if args.profile:
        profile(bench, args.events)
    if args.instances:
        collectors(args.instances)


class IngestionBench:
    """Three teams with ten instances each: one for the service, one for COPY per batch, one for
    COPY per round; the same rows (ids, instances, timestamps, values) for all three."""

    def __init__(self, count: int) -> None:
        from django.utils import timezone

        from tenantry.accounts.models import Team
        from tenantry.instances.models import Instance
        from tenantry.metering.models import Meter, UsageEvent
        from tenantry.runtime.placement import default_server

        server = default_server()
        self.meter = Meter.objects.create(code="api_calls", name="API calls", aggregation="sum", unit="calls")
        self.teams = [Team.objects.create(name=f"Bench {name}", slug=f"bench-{name}")
                      for name in ("api", "copy", "copyall")]
        self.instances = {t.pk: [Instance.objects.create(team=t, slug=f"{t.slug}-{i}", app="hello", server=server,
                                                         memory_mb=64, cpus=1, pids=64, status="running")
                                 for i in range(10)] for t in self.teams}
        self.start = timezone.now() - timedelta(days=1)
        self.step = timedelta(days=1) / count
        self.count = count
        self.table = UsageEvent._meta.db_table
        self.now = datetime.now(UTC).isoformat()

    def stamp(self, i: int) -> str:
        """Event i's time: the run's spread over the last day; past `count` (the profile's
        extra batches), a microsecond apart after the last one, so never in the future."""
        extra = max(0, i - self.count)
        return (self.start + self.step * (i - extra) + timedelta(microseconds=extra)).isoformat()

    def events(self, first: int, last: int) -> list[dict]:
        team_instances = self.instances[self.teams[0].pk]
        return [{"transaction_id": f"bench-{i}", "meter": "api_calls", "value": i % 17,
                 "timestamp": self.stamp(i), "instance": team_instances[i % 10].slug}
                for i in range(first, last)]

    def copy_rows(self, first: int, last: int, team_number: int = 1) -> str:
        team = self.teams[team_number]
        team_instances = self.instances[team.pk]
        return "".join(f"{team.pk}\t{team_instances[i % 10].pk}\t{self.meter.pk}\tbench-{i}\t"
                       f"{self.stamp(i)}\t{i % 17}\t\t{self.now}\n"
                       for i in range(first, last))

    def copy(self, rows: str) -> float:
        """COPY `rows` in a transaction of their own; the seconds before the commit."""
        from django.db import connection, transaction

        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(
                    f"COPY {self.table} (team_id, instance_id, meter_id, transaction_id, timestamp, value, key, "
                    "received_at) FROM STDIN") as stream:
                stream.write(rows)
            return time.perf_counter() - started


def _backend_cpu() -> float:
    """CPU seconds the PostgreSQL backend serving this process has used (same machine)."""
    from django.db import connection

    connection.ensure_connection()
    return _proc_cpu(connection.connection.info.backend_pid)


def ingestion(count: int, args_rounds: int = 10) -> IngestionBench:
    from django.db import connection

    from tenantry.metering.models import UsageEvent
    from tenantry.metering.services.ingest import MAX_BATCH, usage_events_ingest

    bench = IngestionBench(count)
    api_team, copy_team, copyall_team = bench.teams
    batches = [bench.events(first, min(first + MAX_BATCH, count)) for first in range(0, count, MAX_BATCH)]

    # Alternating rounds (service, then COPY of the same rows, then the next round): on a shared
    # machine the load changes by the second, and both sides see the same weather. The ratio is
    # of the totals; the best round of each is printed too.
    rounds = max(1, min(args_rounds, len(batches)))
    per_round = -(-len(batches) // rounds)
    # The baseline is COPY with the API's durability unit: each batch of 1,000 its own committed
    # transaction (what the API acknowledges is on disk). COPY of a whole round in one transaction
    # (10x fewer commits) is printed too, for reference.
    ingest_times, copy_times, copyall_times = [], [], []
    # CPU (this process, and its PostgreSQL backend) does not depend on the other sessions' load
    # the way elapsed time does: per 1,000 events, for the service and for COPY per batch.
    ingest_cpu, copy_cpu = [0.0, 0.0], [0.0, 0.0]
    connection.close()
    for r in range(rounds):
        chunk = batches[r * per_round:(r + 1) * per_round]
        if not chunk:
            break
        own, backend = cpu_seconds(), _backend_cpu()
        started = time.perf_counter()
        for batch in chunk:
            usage_events_ingest(team=api_team, events=batch)
        ingest_times.append((sum(len(b) for b in chunk), time.perf_counter() - started))
        ingest_cpu[0] += cpu_seconds() - own
        ingest_cpu[1] += _backend_cpu() - backend
        first, last = r * per_round * MAX_BATCH, min((r + 1) * per_round * MAX_BATCH, count)
        per_batch = [bench.copy_rows(b, min(b + MAX_BATCH, last)) for b in range(first, last, MAX_BATCH)]
        own, backend = cpu_seconds(), _backend_cpu()
        started = time.perf_counter()
        for rows in per_batch:
            bench.copy(rows)
        copy_times.append((last - first, time.perf_counter() - started))
        copy_cpu[0] += cpu_seconds() - own
        copy_cpu[1] += _backend_cpu() - backend
        rows = bench.copy_rows(first, last, 2)
        started = time.perf_counter()
        bench.copy(rows)
        copyall_times.append((last - first, time.perf_counter() - started))
    assert UsageEvent.objects.filter(team=api_team).count() == count
    assert UsageEvent.objects.filter(team=copy_team).count() == count
    assert UsageEvent.objects.filter(team=copyall_team).count() == count
    replay = usage_events_ingest(team=api_team, events=batches[0])
    assert replay.accepted == 0 and replay.duplicates == len(batches[0])
    ingest_seconds = sum(t for _, t in ingest_times)
    copy_seconds = sum(t for _, t in copy_times)
    ingest_rate, copy_rate = count / ingest_seconds, count / copy_seconds
    best_ingest = max(n / t for n, t in ingest_times)
    best_copy = max(n / t for n, t in copy_times)
    print(f"ingestion: {count:,} events in {len(batches)} batches of {MAX_BATCH}, {ingest_seconds:.2f} s, "
          f"{ingest_rate:,.0f} events/s (best round {best_ingest:,.0f}; goal >= 20,000)")
    print(f"COPY:      {count:,} rows, a transaction per {MAX_BATCH}, {copy_seconds:.2f} s, {copy_rate:,.0f} rows/s "
          f"(best round {best_copy:,.0f})")
    copyall_seconds = sum(t for _, t in copyall_times)
    print(f"COPY:      {count:,} rows, one transaction per round, {copyall_seconds:.2f} s, "
          f"{count / copyall_seconds:,.0f} rows/s (reference; ingestion / this: "
          f"{ingest_rate * copyall_seconds / count:.2f})")
    print(f"ratio ingestion / COPY: {ingest_rate / copy_rate:.2f} (best rounds {best_ingest / best_copy:.2f}; "
          f"goal >= 0.5), {rounds} alternating rounds")
    per_k = 1000 / count * 1000
    print(f"CPU per 1,000 events: ingestion {ingest_cpu[0] * per_k:.1f} ms bench process + "
          f"{ingest_cpu[1] * per_k:.1f} ms PostgreSQL backend; "
          f"COPY {copy_cpu[0] * per_k:.1f} ms + {copy_cpu[1] * per_k:.1f} ms "
          f"(CPU ratio COPY / ingestion {sum(copy_cpu) / sum(ingest_cpu):.2f})")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return bench


def profile(bench: IngestionBench, count: int, batches: int = 20) -> None:
    """Where a batch's time goes: each statement the service sends (as Django logs them: count
    and mean time per batch), the rest (Python), and COPY of the same rows split into the COPY
    statement and its commit. Fresh ids and timestamps after the measured run's."""
    from collections import defaultdict

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tenantry.metering.services.ingest import MAX_BATCH, usage_events_ingest

    statements: dict[str, list[float]] = defaultdict(list)
    total = own = 0.0
    for b in range(batches):
        first = count + b * MAX_BATCH
        events = bench.events(first, first + MAX_BATCH)
        cpu = cpu_seconds()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            usage_events_ingest(team=bench.teams[0], events=events)
            total += time.perf_counter() - started
        own += cpu_seconds() - cpu
        for query in captured.captured_queries:
            statements[" ".join(query["sql"].split())[:48]].append(float(query["time"]))
    copy_statement = commit = 0.0
    for b in range(batches):
        first = count + b * MAX_BATCH
        rows = bench.copy_rows(first, first + MAX_BATCH)
        started = time.perf_counter()
        statement = bench.copy(rows)
        copy_statement += statement
        commit += time.perf_counter() - started - statement
    sql = sum(sum(times) for times in statements.values())
    print(f"profile, {batches} batches of {MAX_BATCH} (ms per batch; load {os.getloadavg()[0]:.1f}):")
    for text, times in statements.items():
        print(f"  {len(times) / batches:4.1f} x {sum(times) / len(times) * 1000:7.2f}  {text}")
    print(f"  Python (checks, arrays, driver): {(total - sql) / batches * 1000:.2f} ms wall, "
          f"{own / batches * 1000:.2f} ms CPU of this process (with the driver's)")
    print(f"  service total {total / batches * 1000:.2f}; COPY {copy_statement / batches * 1000:.2f} + commit "
          f"{commit / batches * 1000:.2f} = {(copy_statement + commit) / batches * 1000:.2f}")


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) another process has used, from /proc."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pid_of(name: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    return int(entry.name)
            except OSError:
                continue
    return None


def _start_traefik():
    import subprocess

    import requests
    from django.conf import settings

    from tenantry.core.management.commands.up import traefik_binary, write_traefik_static_config

    static = write_traefik_static_config()
    process = subprocess.Popen([traefik_binary(), f"--configFile={static}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    port = settings.TENANTRY["PROXY_INTERNAL_PORT"]
    for _ in range(200):
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    sys.exit("Traefik did not start")


def collectors(count: int) -> None:
    """`count` hello instances (real containers and routes) behind a real Traefik, each visited
    once so that the proxy has router metrics; then one timed pass of each collector (after an
    untimed first pass that creates the counter sources). CPU: this process, plus dockerd and
    Traefik, whose work a pass causes (the storage pass is mostly dockerd's)."""
    import requests
    from django.conf import settings

    from tenantry.accounts.services.teams import operator_team
    from tenantry.instances import services
    from tenantry.instances.models import Instance
    from tenantry.metering.collectors.executions import collect_executions
    from tenantry.metering.collectors.resources import collect_resources
    from tenantry.metering.collectors.storage import collect_storage
    from tenantry.metering.collectors.traffic import collect_traffic

    proxy = _start_traefik()
    team = operator_team()
    try:
        started = time.perf_counter()
        for i in range(count):
            services.instance_create(team=team, slug=f"mbench-{i}", app="hello", actor="bench")
        running = Instance.objects.filter(slug__startswith="mbench-", status="running").count()
        print(f"{running} hello instances running ({time.perf_counter() - started:.0f} s to provision)")
        port = settings.TENANTRY["PROXY_PORT"]
        for instance in Instance.objects.filter(slug__startswith="mbench-"):
            requests.get(f"http://127.0.0.1:{port}/", headers={"Host": instance.host}, timeout=10)
        dockerd, traefik = _pid_of("dockerd"), proxy.pid
        for name, collect in (("resources (cgroup files)", collect_resources),
                              ("traffic (Traefik metrics)", collect_traffic),
                              ("storage (volume sizes)", collect_storage),
                              ("executions (copied records)", collect_executions)):
            collect()  # the first pass creates the counter sources
            own, engine, prox, wall = cpu_seconds(), _proc_cpu(dockerd), _proc_cpu(traefik), time.perf_counter()
            report = collect()
            wall = time.perf_counter() - wall
            own, engine, prox = cpu_seconds() - own, _proc_cpu(dockerd) - engine, _proc_cpu(traefik) - prox
            print(f"collector {name}: {report.instances} instances, {wall * 1000:.0f} ms wall; CPU "
                  f"{own * 1000:.0f} ms Tenantry + {engine * 1000:.0f} ms dockerd + {prox * 1000:.0f} ms Traefik "
                  f"= {(own + engine + prox) / wall * 100:.0f} % of one core during the pass, "
                  f"{(own + engine + prox) / 60 * 100:.2f} % of one core at one pass a minute"
                  f"{' (GAPS: ' + report.gaps[0][:80] + ')' if report.gaps else ''}")
    finally:
        for instance in Instance.objects.filter(slug__startswith="mbench-"):
            services.instance_delete(instance=instance, actor="bench")
        proxy.terminate()
        proxy.wait(timeout=10)


if __name__ == "__main__":
    main()
