"""Memory of the control plane in the production process layout (deploy/systemd): `tenantry
serve`, whose preloaded parent forks gunicorn (arbiter + N workers), worker processes without the
scheduler, one scheduler and the edge; on PostgreSQL and Redis, Traefik apart.

    .venv/bin/python bench/production_memory.py [--web-workers 2] [--workers 2] [--managed 100]
                                                [--layout serve|separate]

`--layout separate` measures the same roles started as separate programs (one import each), the
layout before `tenantry serve`, for comparison.

Prints each process's RSS and PSS (proportional set size: shared pages divided among the
processes sharing them, so the sum is what the layout really costs) and the totals.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tenantry_bench_memory")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kb(pid: int) -> tuple[int, int]:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[1].isdigit()}
    return values.get("Rss", 0), values.get("Pss", 0)


def descendants(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found += [int(entry), *descendants(int(entry))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--managed", type=int, default=100)
    parser.add_argument("--layout", choices=("serve", "separate"), default="serve")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="tenantry-mem-")
    web = free_port()
    env = {**os.environ, "DATABASE_URL": DATABASE, "REDIS_URL": REDIS, "TENANTRY_DATA_DIR": data,
           "TENANTRY_WEB_PORT": str(web), "TENANTRY_EDGE_PORT": str(free_port()), "TENANTRY_HUEY_IMMEDIATE": "0",
           "TENANTRY_INSTALLATION_ID": f"mem{os.getpid()}", "DJANGO_SETTINGS_MODULE": "tenantry.settings"}
    database_name = DATABASE.rsplit("/", 1)[1]
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database_name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database_name], check=True)
    tenantry = [sys.executable, "-m", "tenantry.cli"]
    subprocess.run([*tenantry, "migrate", "-v", "0"], env=env, check=True)
    seed = ("from decimal import Decimal\n"
            "from tenantry.accounts.services.teams import operator_team\n"
            "from tenantry.instances.models import Instance\n"
            "from tenantry.runtime.placement import default_server\n"
            "team, server = operator_team(), default_server()\n"
            f"Instance.objects.bulk_create([Instance(team=team, slug=f'm{{i}}', app='hello', server=server, "
            f"memory_mb=64, cpus=Decimal('0.25'), pids=64, status='running') for i in range({args.managed})])\n")
    subprocess.run([*tenantry, "shell", "-c", seed], env=env, check=True)
    if args.layout == "serve":
        commands = {"serve": [*tenantry, "serve", "--web-workers", str(args.web_workers),
                              "--workers", str(args.workers)]}
    else:
        commands = {
            "web": [sys.executable, "-m", "gunicorn", "tenantry.wsgi:application", "--bind", f"127.0.0.1:{web}",
                    "--workers", str(args.web_workers), "--threads", "4"],
            "scheduler": [*tenantry, "worker", "--threads", "2"],
            "edge": [*tenantry, "edge"],
        }
        for number in range(1, args.workers + 1):
            commands[f"worker {number}"] = [*tenantry, "worker", "--no-periodic"]
    processes = {name: subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True) for name, command in commands.items()}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{web}/metrics", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the web process did not answer")
            time.sleep(0.5)
        for _ in range(20):  # warm every gunicorn worker: dashboard-free paths, metrics over 100 instances
            requests.get(f"http://127.0.0.1:{web}/metrics", timeout=10)
            requests.get(f"http://127.0.0.1:{web}/api/v1/openapi.json", timeout=10)
        time.sleep(5)  # workers have imported their tasks and polled the queue
        total_rss = total_pss = 0
        print(f"production layout ({args.layout}), {args.managed} instances under management (Traefik apart):")
        for name, process in processes.items():
            for pid in [process.pid, *descendants(process.pid)]:
                rss, pss = memory_kb(pid)
                total_rss, total_pss = total_rss + rss, total_pss + pss
                role = Path(f"/proc/{pid}/comm").read_text().strip()
                print(f"  {name:<10} {role:<16} pid {pid:<7} RSS {rss / 1024:6.1f} MB  PSS {pss / 1024:6.1f} MB")
        print(f"total: RSS {total_rss / 1024:.0f} MB, PSS {total_pss / 1024:.0f} MB (goal < 250 MB)")
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
