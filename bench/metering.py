"""Metering benchmark on PostgreSQL: usage-event ingestion through the service the API calls
(batches of 1,000: validated item by item, duplicates dropped, order checked, all or nothing)
against a raw `COPY` of the same rows in the same transactions (a batch of 1,000 is what the API
acknowledges as stored, so each is committed on its own on both sides), in one run; then the
cost of one collection pass of the CPU/memory and traffic collectors over the installation's running instances.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tenantry_metering_bench \\
        .venv/bin/python bench/metering.py [--events 100000] [--instances 0]

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
    ingestion(args.events, args.rounds)
    if args.instances:
        collectors(args.instances)


def ingestion(count: int, args_rounds: int = 10) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from tenantry.accounts.models import Team
    from tenantry.instances.models import Instance
    from tenantry.metering.models import Meter, UsageEvent
    from tenantry.metering.services.ingest import MAX_BATCH, usage_events_ingest
    from tenantry.runtime.placement import default_server

    server = default_server()
    meter = Meter.objects.create(code="api_calls", name="API calls", aggregation="sum", unit="calls")
    teams = [Team.objects.create(name=f"Bench {name}", slug=f"bench-{name}") for name in ("api", "copy", "copyall")]
    instances = {t.pk: [Instance.objects.create(team=t, slug=f"{t.slug}-{i}", app="hello", server=server,
                                                memory_mb=64, cpus=1, pids=64, status="running")
                        for i in range(10)] for t in teams}
    start = timezone.now() - timedelta(days=1)
    step = timedelta(days=1) / count

    def event(i: int, instance: Instance) -> dict:
        return {"transaction_id": f"bench-{i}", "meter": "api_calls", "timestamp": (start + step * i).isoformat(),
                "value": i % 17, "instance": instance.slug}

    api_team, copy_team, copyall_team = teams
    batches = [[event(i, instances[api_team.pk][i % 10]) for i in range(first, min(first + MAX_BATCH, count))]
               for first in range(0, count, MAX_BATCH)]
    copy_instances = instances[copy_team.pk]
    copyall_instances = instances[copyall_team.pk]
    table = UsageEvent._meta.db_table
    now = datetime.now(UTC).isoformat()

    def copy_rows(first: int, last: int, team=None, team_instances=None) -> str:
        team, team_instances = team or copy_team, team_instances or copy_instances
        return "".join(f"{team.pk}\t{team_instances[i % 10].pk}\t{meter.pk}\tbench-{i}\t"
                       f"{(start + step * i).isoformat()}\t{i % 17}\t\t{now}\n" for i in range(first, last))

    def copy(rows: str) -> None:
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(
                f"COPY {table} (team_id, instance_id, meter_id, transaction_id, timestamp, value, key, received_at) "
                "FROM STDIN") as stream:
            stream.write(rows)

    # Alternating rounds (service, then COPY of the same rows, then the next round): on a shared
    # machine the load changes by the second, and both sides see the same weather. The ratio is
    # of the totals; the best round of each is printed too.
    rounds = max(1, min(args_rounds, len(batches)))
    per_round = -(-len(batches) // rounds)
    # The baseline is COPY with the API's durability unit: each batch of 1,000 its own committed
    # transaction (what the API acknowledges is on disk). COPY of a whole round in one transaction
    # (10x fewer commits) is printed too, for reference.
    ingest_times, copy_times, copyall_times = [], [], []
    connection.close()
    for r in range(rounds):
        chunk = batches[r * per_round:(r + 1) * per_round]
        if not chunk:
            break
        started = time.perf_counter()
        for batch in chunk:
            usage_events_ingest(team=api_team, events=batch)
        ingest_times.append((sum(len(b) for b in chunk), time.perf_counter() - started))
        first, last = r * per_round * MAX_BATCH, min((r + 1) * per_round * MAX_BATCH, count)
        per_batch = [copy_rows(b, min(b + MAX_BATCH, last)) for b in range(first, last, MAX_BATCH)]
        started = time.perf_counter()
        for rows in per_batch:
            copy(rows)
        copy_times.append((last - first, time.perf_counter() - started))
        rows = copy_rows(first, last, copyall_team, copyall_instances)
        started = time.perf_counter()
        copy(rows)
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
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


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
