"""What the edge costs: an instance's page through Tenantry's proxy over TLS, over plain HTTP,
and straight at the container's own address — the same client (wrk, Debian's `wrk` package),
in one run on this machine.

    .venv/bin/python bench/proxy_tls.py [--seconds 5] [--connections 16] [--subnet 10.253.254.0/28]

Two Traefik processes run Tenantry's own static configuration (tenantry.routing.backends.
traefik_static.static_config): one as in plain-HTTP mode, one as in https mode (the http entry
point redirecting, TLS on the https one with a self-signed certificate standing in for the ACME
one, HSTS), with access logs and metrics as in production. The app is the `hello` test image on
its own network. Prints requests per second (keep-alive client, N connections), the ratios, and
the p50 latency of single requests one after the other (one connection): what the edge adds.
Goal: TLS costs < 25 % of plain HTTP's throughput, and the edge adds < 2 ms at p50.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tenantry.routing.backends.traefik_static import TlsConfig, static_config  # noqa: E402

IMAGE = "tenantry/hello:1"
HOST = "bench.localhost"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())  # what Let's Encrypt issues by default with lego: P-256
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Proxy:
    """One Traefik with Tenantry's static configuration and one route to the app."""

    def __init__(self, directory: Path, upstream: str, *, tls: bool):
        self.directory = directory
        dynamic = directory / "dynamic"
        dynamic.mkdir(parents=True)
        self.http_port, self.internal_port = free_port(), free_port()
        self.https_port = free_port() if tls else None
        tls_config = TlsConfig(https_address=f"127.0.0.1:{self.https_port}", email="bench@example.com",
                               ca="https://127.0.0.1:9/dir") if tls else None
        static = static_config(data_dir=directory, dynamic_dir=dynamic, http_address=f"127.0.0.1:{self.http_port}",
                               internal_address=f"127.0.0.1:{self.internal_port}",
                               access_log=directory / "access.log", tls=tls_config)
        router: dict = {"rule": f"Host(`{HOST}`)", "service": "bench", "entryPoints": ["websecure" if tls else "web"]}
        document: dict = {"http": {"routers": {"bench": router},
                                   "services": {"bench": {"loadBalancer": {"servers": [{"url": upstream}]}}}}}
        if tls:
            cert, key = self_signed(directory)
            router["tls"] = {}
            router["middlewares"] = ["hsts"]
            document["http"]["middlewares"] = {"hsts": {"headers": {"stsSeconds": 31536000}}}
            document["tls"] = {"certificates": [{"certFile": str(cert), "keyFile": str(key)}],
                               "stores": {"default": {"defaultCertificate": {"certFile": str(cert),
                                                                             "keyFile": str(key)}}}}
        (dynamic / "bench.yml").write_text(yaml.safe_dump(document))
        (directory / "traefik.yml").write_text(yaml.safe_dump(static))
        binary = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
        self.process = subprocess.Popen([binary, f"--configFile={directory / 'traefik.yml'}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/" if self.https_port else f"http://127.0.0.1:{self.http_port}/"

    def wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                response = requests.get(self.url, headers={"Host": HOST}, timeout=2, verify=False)
                if response.status_code == 200 and "Hello from bench" in response.text:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the proxy at {self.url} did not serve the app")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wrk(url: str, *, connections: int, seconds: int) -> dict[str, float]:
    """Requests per second and the latency percentiles of one wrk run."""
    threads = min(2, connections)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-H", f"Host: {HOST}", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    result = {"rps": rps}
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
            result[f"p{pct}_ms"] = float(match.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        print(f"  (errors from {url}: {out.strip().splitlines()[-3:]})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--subnet", default="10.253.254.0/28", help="a free subnet for the app's network")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    requests.packages.urllib3.disable_warnings()  # type: ignore[attr-defined]

    client = docker.from_env()
    run = secrets.token_hex(3)
    subnet = ipaddress.ip_network(args.subnet)
    hosts = list(subnet.hosts())
    ip = str(hosts[1])
    network = client.networks.create(f"tenantry-bench-tls-{run}", driver="bridge", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=str(hosts[0]))]))
    work = Path(tempfile.mkdtemp(prefix="tenantry-bench-tls-"))
    container = None
    proxies: list[Proxy] = []
    try:
        container = client.containers.create(IMAGE, name=f"tenantry-bench-tls-{run}", init=True, detach=True,
                                             environment={"HELLO_INSTANCE": "bench"}, network=network.name,
                                             networking_config={network.name: client.api.create_endpoint_config(
                                                 ipv4_address=ip)})
        container.start()
        direct = f"http://{ip}:8080/"
        plain = Proxy(work / "plain", direct, tls=False)
        secure = Proxy(work / "tls", direct, tls=True)
        proxies = [plain, secure]
        for proxy in proxies:
            proxy.wait()
        targets = {"container": direct, "proxy http": plain.url, "proxy https": secure.url}
        for url in targets.values():  # warm up: connections, TLS session caches, the app's page cache
            wrk(url, connections=2, seconds=1)
        throughput = {name: wrk(url, connections=args.connections, seconds=args.seconds)
                      for name, url in targets.items()}
        single = {name: wrk(url, connections=1, seconds=args.seconds) for name, url in targets.items()}
    finally:
        for proxy in proxies:
            proxy.stop()
        if container is not None:
            container.remove(force=True)
        network.remove()
        shutil.rmtree(work, ignore_errors=True)

    print(f"throughput ({args.connections} keep-alive connections, {args.seconds} s each, wrk):")
    for name, figures in throughput.items():
        print(f"  {name:<12} {figures['rps']:9.0f} req/s   p50 {figures.get('p50_ms', 0):6.2f} ms")
    tls_cost = 1 - throughput["proxy https"]["rps"] / throughput["proxy http"]["rps"]
    print(f"  https / http through the proxy: {throughput['proxy https']['rps'] / throughput['proxy http']['rps']:.2f}"
          f"  (TLS costs {tls_cost:.0%} of the throughput; goal < 25 %)")
    print(f"  http proxy / container:         {throughput['proxy http']['rps'] / throughput['container']['rps']:.2f}")
    print(f"  https proxy / container:        {throughput['proxy https']['rps'] / throughput['container']['rps']:.2f}")
    print("latency of single requests one after the other (1 connection), p50:")
    for name, figures in single.items():
        print(f"  {name:<12} {figures['p50_ms']:6.2f} ms")
    added_http = single["proxy http"]["p50_ms"] - single["container"]["p50_ms"]
    added_https = single["proxy https"]["p50_ms"] - single["container"]["p50_ms"]
    print(f"  the edge adds {added_http:.2f} ms over http, {added_https:.2f} ms over https (goal < 2 ms)")
    if args.json:
        print(json.dumps({"throughput": throughput, "single": single, "tls_cost": tls_cost,
                          "added_p50_ms": {"http": added_http, "https": added_https}}))


if __name__ == "__main__":
    main()
