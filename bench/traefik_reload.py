"""What one route change costs Traefik, by how the routes are laid out in its watched directory.

Traefik's file provider re-reads (and renders as a template) every file at each change, then
rebuilds every router. This starts a Traefik of its own (loopback ports, a temporary directory)
with N routes laid out one file per route (Tenantry's layout before issue 15) or in the shards
Tenantry writes now, adds routes one at a time and prints, per layout: how long until Traefik
serves the new route (p50, max) and the CPU Traefik spent per change; then shards vs one file
per route as ratios.

    .venv/bin/python bench/traefik_reload.py --routes 1000 --changes 25
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provision import free_port, wait_answering  # noqa: E402  (bench/ is on the path: this script's folder)

from tenantry.routing.backends.traefik_default_cert import default_certificate_tls  # noqa: E402


def route_document(number: int) -> dict:
    name = f"i-{number:08d}"
    upstream = f"http://10.1.{number // 250}.{number % 250 + 2}"
    return {"routers": {name: {"rule": f"Host(`s{number}.localhost`)", "entryPoints": ["web"], "service": name}},
            "services": {name: {"loadBalancer": {"servers": [{"url": upstream}], "passHostHeader": True}}}}


class Layout:
    """Routes 0..n-1 in `directory`, one file each (`shards` = 0) or by shard_name()."""

    def __init__(self, directory: Path, staging: Path, shards: bool):
        from tenantry.routing.backends.traefik_files import shard_name

        self.directory, self.staging, self.shards = directory, staging, shards
        self.shard_name = shard_name
        self.by_file: dict[str, list[int]] = {}

    def file_of(self, number: int) -> str:
        return self.shard_name(f"{number:08d}") if self.shards else f"route-{number}.yml"

    def add(self, number: int) -> None:
        name = self.file_of(number)
        self.by_file.setdefault(name, []).append(number)
        http: dict = {"routers": {}, "services": {}}
        for each in self.by_file[name]:
            for section, items in route_document(each).items():
                http[section].update(items)
        text = yaml.dump({"http": http}, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
        temporary = self.staging / f"{name}.tmp"
        temporary.write_text(text)
        os.replace(temporary, self.directory / name)


def traefik_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(routes: int, changes: int, shards: bool, binary: str,
            default_cert: bool = True) -> tuple[float, float, float, int]:
    """(apply p50 s, apply max s, Traefik CPU s per change, files) for one layout; `default_cert`:
    with the default certificate Tenantry's base file names (without, Traefik makes a key pair at
    every change)."""
    work = Path(tempfile.mkdtemp(prefix="tenantry-bench-traefik-"))
    dynamic, staging = work / "dynamic", work / "staging"
    dynamic.mkdir()
    staging.mkdir()
    web, api = free_port(), free_port()
    static = {"entryPoints": {"web": {"address": f"127.0.0.1:{web}"}, "traefik": {"address": f"127.0.0.1:{api}"}},
              "api": {"insecure": True}, "ping": {},
              "providers": {"providersThrottleDuration": "10ms", "file": {"directory": str(dynamic), "watch": True}}}
    (work / "traefik.yml").write_text(yaml.safe_dump(static))
    layout = Layout(dynamic, staging, shards)
    if default_cert:
        (dynamic / "_tenantry.yml").write_text(yaml.safe_dump({"tls": default_certificate_tls(work)}))
    for number in range(routes):
        layout.add(number)
    session = requests.Session()
    session.trust_env = False
    with (work / "traefik.log").open("w") as log:
        process = subprocess.Popen([binary, f"--configFile={work / 'traefik.yml'}"], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        # up, and serving the last of the initial routes
        wait_answering(lambda: session.get(f"http://127.0.0.1:{api}/api/http/routers/i-{routes - 1:08d}@file",
                                           timeout=1),
                       timeout=60, interval=0.1, failure=f"Traefik did not load the routes; see {work / 'traefik.log'}")
        time.sleep(2)
        durations = []
        cpu_before = traefik_cpu_seconds(process.pid)
        for number in range(routes, routes + changes):
            started = time.perf_counter()
            layout.add(number)
            router = f"http://127.0.0.1:{api}/api/http/routers/i-{number:08d}@file"
            while session.get(router, timeout=5).status_code != 200:
                time.sleep(0.005)
            durations.append(time.perf_counter() - started)
            time.sleep(0.3)  # one change at a time: the next one does not queue behind a reload
        cpu = (traefik_cpu_seconds(process.pid) - cpu_before) / changes
        return statistics.median(durations), max(durations), cpu, len(list(dynamic.iterdir()))
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    import django

    django.setup()
    from tenantry.core.management.commands.up import traefik_binary

    binary = traefik_binary()
    results = {}
    print(f"bench/traefik_reload.py: {args.routes} routes, {args.changes} changes one at a time, load "
          f"{os.getloadavg()[0]:.2f}")
    runs = (("one file per route", False, True), ("shards", True, True),
            ("shards, no default cert", True, False))
    for label, shards, default_cert in runs:
        p50, worst, cpu, files = measure(args.routes, args.changes, shards, binary, default_cert)
        results[label] = (p50, cpu)
        print(f"  {label:<24} {files:>5} files: applied p50 {p50 * 1000:6.0f} ms, max {worst * 1000:6.0f} ms; "
              f"Traefik CPU per change {cpu * 1000:5.0f} ms")
    for label, baseline in (("shards / one file per route", "one file per route"),
                            ("default certificate / none", "shards, no default cert")):
        print(f"{label}: apply p50 x{results['shards'][0] / results[baseline][0]:.2f}, "
              f"Traefik CPU per change x{results['shards'][1] / results[baseline][1]:.2f}")


if __name__ == "__main__":
    main()
