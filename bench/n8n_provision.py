"""n8n benchmark: from the create request to the first successful webhook call through Traefik,
against the bare baseline doing the same by hand (same image, `docker run`, wait for
/rest/settings, owner setup, API key, echo workflow import + activation, first webhook call).

    .venv/bin/python bench/n8n_provision.py [--count 3]

Prints p50 of both and their ratio, and the memory of an idle n8n instance.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provision import ROOT, Stack, pct, remove_labelled

IMAGE = "tenantry/n8n:2.8.4"
ECHO = ROOT / "tenantry/catalog/apps/n8n.templates/echo.json"


def until(predicate, timeout: float = 120, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise RuntimeError("timed out")


def bare_n8n(client: docker.DockerClient, index: int, labels: dict[str, str]) -> tuple[float, object]:
    http = requests.Session()
    http.trust_env = False
    started = time.perf_counter()
    subnet, ip = f"10.252.{index}.0/27", f"10.252.{index}.2"
    net = client.networks.create(f"bare-n8n-{index}", driver="bridge", labels=labels,
                                 ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                                     subnet=subnet, gateway=f"10.252.{index}.1")]))
    client.volumes.create(f"bare-n8n-{index}", labels=labels)
    container = client.containers.run(
        IMAGE, detach=True, name=f"bare-n8n-{index}", init=True, labels=labels, mem_limit="768m",
        nano_cpus=1_000_000_000, environment={"N8N_ENCRYPTION_KEY": secrets.token_hex(24), "N8N_SECURE_COOKIE": "false",
                                               "N8N_DIAGNOSTICS_ENABLED": "false", "DB_TYPE": "sqlite"},
        volumes={f"bare-n8n-{index}": {"bind": "/home/node/.n8n", "mode": "rw"}}, network=net.name,
        networking_config={net.name: client.api.create_endpoint_config(ipv4_address=ip)})
    base = f"http://{ip}:5678"
    until(lambda: "data" in http.get(f"{base}/rest/settings", timeout=2).json())
    password = "Bench" + secrets.token_hex(8) + "1"
    http.post(f"{base}/rest/owner/setup", json={"email": "bench@example.com", "firstName": "B", "lastName": "O",
                                                "password": password}, timeout=30).raise_for_status()
    scopes = http.get(f"{base}/rest/api-keys/scopes", timeout=10).json()["data"]
    key = http.post(f"{base}/rest/api-keys", json={"label": "bench", "scopes": scopes, "expiresAt": None},
                    timeout=10).json()["data"]["rawApiKey"]
    workflow = json.loads(ECHO.read_text().replace("{{ instance.id }}", f"bare-{index}"))
    created = http.post(f"{base}/api/v1/workflows", json=workflow, headers={"X-N8N-API-KEY": key}, timeout=30)
    created.raise_for_status()
    http.post(f"{base}/api/v1/workflows/{created.json()['id']}/activate", headers={"X-N8N-API-KEY": key},
              timeout=30).raise_for_status()
    until(lambda: http.post(f"{base}/webhook/echo", json={"message": "bare"}, timeout=5).json() == {"echo": "bare"})
    return time.perf_counter() - started, container


def memory_mb(container) -> float:
    stats = container.stats(stream=False)["memory_stats"]
    usage = stats.get("usage", 0) - stats.get("stats", {}).get("inactive_file", 0)
    return usage / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3, help="instances timed, each way")
    parser.add_argument("--idle", type=float, default=30, help="seconds idle before reading memory")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts/build-n8n-image.sh")], check=True, capture_output=True)
    client = docker.from_env()
    bare_labels = {"tenantry.installation": f"bench-bare-{secrets.token_hex(3)}"}
    stack = Stack()
    stack.env["TENANTRY_IMAGE_OVERRIDES"] = json.dumps({"n8nio/n8n:2.8.4": IMAGE})
    try:
        stack.start()
        ours, base, bare_containers = [], [], []
        for index in range(args.count):
            slug = f"bench-n8n-{index}"
            started = time.perf_counter()
            created = stack.api("POST", "/instances", json={"slug": slug, "app": "n8n"})
            assert created.status_code == 202, created.text
            until(lambda slug=slug: stack.http.post(
                f"http://127.0.0.1:{stack.proxy_port}/webhook/echo", json={"message": "ours"},
                headers={"Host": f"{slug}.localhost"}, timeout=5).json() == {"echo": "ours"}, timeout=180)
            ours.append(time.perf_counter() - started)
            seconds, container = bare_n8n(client, index, bare_labels)
            base.append(seconds)
            bare_containers.append(container)
            print(f"  run {index + 1}: tenantry {ours[-1]:.2f} s, bare {base[-1]:.2f} s", flush=True)
        p50o, p50b = pct(ours, 0.5), pct(base, 0.5)
        print(f"create → first webhook through the proxy: tenantry p50 {p50o:.2f} s | bare p50 {p50b:.2f} s"
              f" | ratio {p50o / p50b:.2f}")
        time.sleep(args.idle)
        managed = client.containers.list(filters={"label": f"tenantry.installation={stack.installation}"})
        ours_mem = [memory_mb(c) for c in managed]
        bare_mem = [memory_mb(c) for c in bare_containers]
        print(f"memory per idle instance after {args.idle:g} s: tenantry p50 {pct(ours_mem, 0.5):.0f} MB"
              f" | bare p50 {pct(bare_mem, 0.5):.0f} MB")
    finally:
        stack.stop()
        remove_labelled(bare_labels["tenantry.installation"])


if __name__ == "__main__":
    main()
