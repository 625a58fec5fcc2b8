"""A real ACME world on 127.0.0.1 for the TLS tests: Debian's `pebble` (the CA) and
`pebble-challtestsrv` (its DNS server), plus a Traefik started with Tenantry's TLS static
configuration against them.

Debian ships the binaries only, so the config and Pebble's listener certificate are made here.
Pebble resolves every name through challtestsrv, which answers 127.0.0.1 for A queries: HTTP-01
validations reach the test's Traefik on its `web` port (Pebble's `httpPort`). DNS-01 goes
through lego's `exec` provider: a small script that writes the TXT record into challtestsrv.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tenantry.routing.backends.traefik_static import TlsConfig, static_config
from tests.conftest import wait_for
from tests.testenv import free_port


def listener_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for Pebble's own https listeners (127.0.0.1 / localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble listener")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "listener.pem", directory / "listener.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# lego's `exec` DNS provider runs this with `present|cleanup <fqdn> <value>`.
DNS_HOOK = textwrap.dedent("""\
    #!{python}
    import json, sys, urllib.request
    action, fqdn = sys.argv[1], sys.argv[2]
    path, body = ("/set-txt", {{"host": fqdn, "value": sys.argv[3]}}) if action == "present" else \\
                 ("/clear-txt", {{"host": fqdn}})
    if action in ("present", "cleanup"):
        request = urllib.request.Request("{management}" + path, data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(request, timeout=5).read()
    """)


@dataclass
class AcmeWorld:
    directory: Path
    pebble_url: str  # the ACME directory
    pebble_management: str
    dns_address: str  # challtestsrv's DNS, "127.0.0.1:port"
    challtestsrv_management: str
    listener_cert: Path
    dns_hook: Path
    processes: list[subprocess.Popen]

    def root_pem(self) -> str:
        """The root Pebble issues under (new at every Pebble start)."""
        response = requests.get(f"{self.pebble_management}/roots/0", verify=str(self.listener_cert), timeout=5)
        response.raise_for_status()
        return response.text

    def set_txt(self, host: str, value: str) -> None:
        requests.post(f"{self.challtestsrv_management}/set-txt", json={"host": host, "value": value},
                      timeout=5).raise_for_status()

    def clear_txt(self, host: str) -> None:
        requests.post(f"{self.challtestsrv_management}/clear-txt", json={"host": host}, timeout=5).raise_for_status()

    def set_cname(self, host: str, target: str) -> None:
        requests.post(f"{self.challtestsrv_management}/set-cname", json={"host": host, "target": target},
                      timeout=5).raise_for_status()

    def clear_cname(self, host: str) -> None:
        requests.post(f"{self.challtestsrv_management}/clear-cname", json={"host": host}, timeout=5).raise_for_status()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Challtestsrv:
    """pebble-challtestsrv as a DNS server only: A queries answer 127.0.0.1, other records
    (CNAME, TXT) are set through its management API."""

    process: subprocess.Popen
    dns_port: int
    management_port: int

    @property
    def dns_address(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def post(self, path: str, **body: Any) -> None:
        requests.post(f"http://127.0.0.1:{self.management_port}{path}", json=body, timeout=5).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_challtestsrv(directory: Path) -> Challtestsrv:
    if not shutil.which("pebble-challtestsrv"):
        raise RuntimeError("pebble-challtestsrv is missing: apt-get install pebble (see .ci/run)")
    directory.mkdir(parents=True, exist_ok=True)
    dns_port, management = free_port(), free_port()
    log = open(directory / "challtestsrv.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns_port}", "-management", f"127.0.0.1:{management}",
         "-http01", "", "-https01", "", "-tlsalpn01", "",
         # Only IPv4: everything here listens on 127.0.0.1.
         "-defaultIPv6", ""], stdout=log, stderr=subprocess.STDOUT)
    server = Challtestsrv(process=process, dns_port=dns_port, management_port=management)
    try:
        wait_for(lambda: _listening(management), timeout=20, what="challtestsrv")
    except Exception:
        server.stop()
        raise
    return server


def start_acme_world(directory: Path, *, http_port: int) -> AcmeWorld:
    """challtestsrv and Pebble on loopback; Pebble validates HTTP-01 on `http_port`."""
    for binary in ("pebble", "pebble-challtestsrv"):
        if not shutil.which(binary):
            raise RuntimeError(f"{binary} is missing: apt-get install pebble (see .ci/run)")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = listener_certificate(directory)
    challtestsrv = start_challtestsrv(directory)
    dns_port, cts_management = challtestsrv.dns_port, challtestsrv.management_port
    acme_port, acme_management = free_port(), free_port()
    processes = [challtestsrv.process]
    config = {"pebble": {"listenAddress": f"127.0.0.1:{acme_port}",
                         "managementListenAddress": f"127.0.0.1:{acme_management}",
                         "certificate": str(cert), "privateKey": str(key),
                         "httpPort": http_port, "tlsPort": free_port(),
                         "ocspResponderURL": "", "externalAccountBindingRequired": False}}
    (directory / "pebble.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_VA_ALWAYS_VALID": "0",
           "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    log = open(directory / "pebble.log", "w")  # noqa: SIM115
    processes.append(subprocess.Popen(
        ["pebble", "-config", str(directory / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT))
    hook = directory / "dns-hook.py"
    hook.write_text(DNS_HOOK.format(python=sys.executable, management=f"http://127.0.0.1:{cts_management}"))
    hook.chmod(0o755)
    world = AcmeWorld(directory=directory, pebble_url=f"https://127.0.0.1:{acme_port}/dir",
                      pebble_management=f"https://127.0.0.1:{acme_management}",
                      dns_address=f"127.0.0.1:{dns_port}",
                      challtestsrv_management=f"http://127.0.0.1:{cts_management}",
                      listener_cert=cert, dns_hook=hook, processes=processes)
    try:
        wait_for(lambda: _listening(acme_port) and _listening(acme_management) and _listening(cts_management),
                 timeout=20, what="pebble and challtestsrv")
    except Exception:
        world.stop()
        raise
    return world


@dataclass
class TlsProxy:
    """A Traefik serving https with certificates from Pebble."""

    http_port: int
    https_port: int
    internal_port: int
    dynamic_dir: Path
    tls: TlsConfig
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # waits for open connections (10 s grace) otherwise
            self.process.kill()
            self.process.wait(timeout=5)


def start_tls_traefik(directory: Path, world: AcmeWorld, *, http_port: int, traefik_binary: str) -> TlsProxy:
    https_port, internal_port = free_port(), free_port()
    tls = TlsConfig(https_address=f"127.0.0.1:{https_port}", email="ops@tenantry.test", ca=world.pebble_url,
                    challenge="dns", dns_provider="exec", dns_resolvers=(world.dns_address,),
                    dns_propagation_check=False, hsts_seconds=600)
    dynamic = directory / "dynamic"
    dynamic.mkdir(parents=True, exist_ok=True)
    (directory / "acme").mkdir(mode=0o700, exist_ok=True)
    document = static_config(data_dir=directory, dynamic_dir=dynamic, http_address=f"127.0.0.1:{http_port}",
                             internal_address=f"127.0.0.1:{internal_port}",
                             access_log=directory / "access.log", tls=tls)
    document["log"]["level"] = "DEBUG"  # the ACME exchange in traefik.log when a test fails
    static = directory / "traefik.yml"
    static.write_text(yaml.safe_dump(document))
    env = {**os.environ, "LEGO_CA_CERTIFICATES": str(world.listener_cert), "EXEC_PATH": str(world.dns_hook),
           "EXEC_POLLING_INTERVAL": "1", "EXEC_PROPAGATION_TIMEOUT": "30"}
    log = open(directory / "traefik.stdout", "w")  # noqa: SIM115
    process = subprocess.Popen([traefik_binary, f"--configFile={static}"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    wait_for(lambda: _listening(internal_port) and _listening(https_port), timeout=20, what="TLS Traefik")
    return TlsProxy(http_port=http_port, https_port=https_port, internal_port=internal_port,
                    dynamic_dir=dynamic, tls=tls, process=process)


def https_get(port: int, host: str, root_pem: str, path: str = "/",
              timeout: float = 5) -> tuple[int, dict[str, str], str, dict[str, Any]]:
    """GET https://host{path} through 127.0.0.1:port, trusting ONLY `root_pem` and checking the
    host name: (status, headers, body, the peer certificate as ssl decodes it)."""
    return https_request(port, host, root_pem, "GET", path, timeout=timeout)


def https_request(port: int, host: str, root_pem: str, method: str, path: str = "/", *, json_body: Any = None,
                  timeout: float = 5) -> tuple[int, dict[str, str], str, dict[str, Any]]:
    context = ssl.create_default_context(cadata=root_pem)  # no system roots: cadata only
    assert context.cert_store_stats()["x509_ca"] == 1
    body = json.dumps(json_body).encode() if json_body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
    if json_body is not None:
        head += "Content-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as conn:
        peer = conn.getpeercert()
        conn.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    if headers.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    return status, headers, payload.decode("utf-8", "replace"), peer  # type: ignore[return-value]


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out
