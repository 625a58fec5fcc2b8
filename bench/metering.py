"""Metering benchmark on PostgreSQL: usage-event ingestion through the service the API calls
(batches of 1,000: validated item by item, duplicates dropped, order checked, all or nothing)
against a raw `COPY` of the same rows, in one run; then the cost of one collection pass of the
CPU/memory and traffic collectors over the installation's running instances.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tenantry_metering_bench \\
        .venv/bin/python bench/metering.py [--events 100000] [--instances 0]

Goal: ingestion >= 20,000 events/s and a ratio (ingestion / COPY) >= 0.5. `--instances N`
starts N `hello` instances (real containers, ~2 MB each) to time the collectors on; the issue's
figure is with 200.
"""

from __future__ import annotations

import argparse
import io
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
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/metering.py runs on PostgreSQL: set DATABASE_URL=postgres://…")
    os.environ.setdefault("TENANTRY_DATA_DIR", tempfile.mkdtemp(prefix="tenantry-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    os.environ.setdefault("TENANTRY_LOG_LEVEL", "WARNING")
    # `--instances`: the provisioning runs in this process (no worker needed).
    os.environ.setdefault("TENANTRY_HUEY_IMMEDIATE", "1")
    from billing_run import ensure_database

    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    ingestion(args.events)
    if args.instances:
        collectors(args.instances)


def ingestion(count: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from tenantry.accounts.models import Team
    from tenantry.instances.models import Instance
    from tenantry.metering.models import Meter, UsageEvent
    from tenantry.metering.services.ingest import MAX_BATCH, usage_events_ingest
    from tenantry.runtime.placement import default_server

    server = default_server()
    meter = Meter.objects.create(code="api_calls", name="API calls", aggregation="sum", unit="calls")
    teams = [Team.objects.create(name=f"Bench {name}", slug=f"bench-{name}") for name in ("api", "copy")]
    instances = {t.pk: [Instance.objects.create(team=t, slug=f"{t.slug}-{i}", app="hello", server=server,
                                                memory_mb=64, cpus=1, pids=64, status="running")
                        for i in range(10)] for t in teams}
    start = timezone.now() - timedelta(days=1)
    step = timedelta(days=1) / count

    def event(i: int, instance: Instance) -> dict:
        return {"transaction_id": f"bench-{i}", "meter": "api_calls", "timestamp": (start + step * i).isoformat(),
                "value": i % 17, "instance": instance.slug}

    api_team, copy_team = teams
    batches = [[event(i, instances[api_team.pk][i % 10]) for i in range(first, min(first + MAX_BATCH, count))]
               for first in range(0, count, MAX_BATCH)]
    connection.close()
    started = time.perf_counter()
    for batch in batches:
        usage_events_ingest(team=api_team, events=batch)
    ingest_seconds = time.perf_counter() - started
    assert UsageEvent.objects.filter(team=api_team).count() == count
    replay = usage_events_ingest(team=api_team, events=batches[0])
    assert replay.accepted == 0 and replay.duplicates == len(batches[0])

    # The same rows (another team, same ids) through COPY: the floor of what PostgreSQL can take.
    copy_instances = instances[copy_team.pk]
    buffer = io.StringIO()
    now = datetime.now(UTC).isoformat()
    for i in range(count):
        buffer.write(f"{copy_team.pk}\t{copy_instances[i % 10].pk}\t{meter.pk}\tbench-{i}\t"
                     f"{(start + step * i).isoformat()}\t{i % 17}\t\t{now}\n")
    rows = buffer.getvalue()
    table = UsageEvent._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.copy(
            f"COPY {table} (team_id, instance_id, meter_id, transaction_id, timestamp, value, key, received_at) "
            "FROM STDIN") as copy:
        copy.write(rows)
    copy_seconds = time.perf_counter() - started
    assert UsageEvent.objects.filter(team=copy_team).count() == count
    ingest_rate, copy_rate = count / ingest_seconds, count / copy_seconds
    print(f"ingestion: {count:,} events in {len(batches)} batches, {ingest_seconds:.2f} s, "
          f"{ingest_rate:,.0f} events/s (goal >= 20,000)")
    print(f"COPY:      {count:,} rows, {copy_seconds:.2f} s, {copy_rate:,.0f} rows/s")
    print(f"ratio ingestion / COPY: {ingest_rate / copy_rate:.2f} (goal >= 0.5)")


def collectors(count: int) -> None:
    from tenantry.accounts.services.teams import operator_team
    from tenantry.instances import services
    from tenantry.instances.models import Instance
    from tenantry.metering.collectors.resources import collect_resources
    from tenantry.metering.collectors.traffic import collect_traffic

    team = operator_team()
    for i in range(count):
        services.instance_create(team=team, slug=f"mbench-{i}", app="hello", actor="bench")
    deadline = time.monotonic() + 600
    while Instance.objects.filter(slug__startswith="mbench-", status="running").count() < count:
        if time.monotonic() > deadline:
            sys.exit("instances did not all start (is a worker running?)")
        time.sleep(1)
    try:
        for name, collect in (("resources (cgroup files)", collect_resources), ("traffic (Traefik metrics)",
                                                                             collect_traffic)):
            collect()  # the first pass creates the counter sources
            cpu, wall = cpu_seconds(), time.perf_counter()
            report = collect()
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            print(f"collector {name}: {report.instances} instances, {wall * 1000:.0f} ms wall, "
                  f"{cpu * 1000:.0f} ms CPU = {cpu / 60 * 100:.2f} % of one core at one pass a minute")
    finally:
        for instance in Instance.objects.filter(slug__startswith="mbench-"):
            services.instance_delete(instance=instance, actor="bench")


if __name__ == "__main__":
    main()
