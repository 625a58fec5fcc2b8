"""`tenantry doctor`: is this installation fit for production? Each finding says what is wrong
and how to fix it; failures make the command exit 1.

Reads the effective settings (so the same environment file the services use), and checks the
live dependencies the way the processes will use them.
"""

from __future__ import annotations

import ipaddress
import os
import platform
import secrets
import smtplib
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

from tenantry.ops.install import audit_environment
from tenantry.ops.probes import PROBE_TIMEOUT_SECONDS, docker_base_url, probe_database, probe_docker, probe_proxy

OK, WARNING, FAILURE = "ok", "warning", "failure"
# What Traefik gives the rest of Tenantry and Caddy (tenantry/routing/backends/caddy.py) does not yet.
CADDY_GAPS = ("with Caddy as the proxy: no TLS/ACME, no rate limits (a throttled route is refused), no traffic "
              "metering per instance (the collector reads Traefik's router metrics) and no idle hibernation "
              "(visits are read from Traefik's access log: under Caddy no instance is put to sleep)")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok, warning, failure
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _error(exc: Exception) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:300]


# --- secrets and settings ----------------------------------------------------------------------
def check_secrets() -> Iterator[Finding]:
    conf = settings.TENANTRY
    effective = {
        "TENANTRY_SECRET_KEY": settings.SECRET_KEY,
        "TENANTRY_EDGE_SECRET": conf["EDGE_SECRET"],
        "TENANTRY_GATEWAY_API_KEY": settings.PAYMENT_GATEWAY["API_KEY"],
        "TENANTRY_GATEWAY_WEBHOOK_SECRET": settings.PAYMENT_GATEWAY["WEBHOOK_SECRET"],
        "TENANTRY_METRICS_TOKEN": conf.get("METRICS_TOKEN", ""),
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
    }
    if conf["SECRETS_KEYS"]:
        effective["TENANTRY_SECRETS_KEYS"] = ",".join(conf["SECRETS_KEYS"])
    else:
        effective["TENANTRY_SECRETS_KEY_FILE"] = conf.get("SECRETS_KEY_FILE") or "data-dir"
    for name in ("STRIPE_WEBHOOK_SECRET", "LAGO_API_KEY", "TENANTRY_EMAIL_PASSWORD", "TENANTRY_BACKUP_S3_SECRET_KEY"):
        if os.environ.get(name):
            effective[name] = os.environ[name]
    weak = audit_environment(effective)
    if not weak:
        yield Finding("secrets", OK, "every secret is long, random and not a known default")
    for item in weak:
        yield Finding("secrets", FAILURE, f"{item.name} is {item.reason}",
                      f"generate a new value (tenantry init writes them) and set {item.name}")


def check_debug() -> Iterator[Finding]:
    if settings.DEBUG:
        yield Finding("debug", FAILURE, "debug mode is on: errors show tracebacks and settings to visitors",
                      "set TENANTRY_DEBUG=0")
    else:
        yield Finding("debug", OK, "debug mode is off")


def check_key_location() -> Iterator[Finding]:
    data_dir = Path(settings.DATA_DIR).resolve()
    conf = settings.TENANTRY
    key_file = conf.get("SECRETS_KEY_FILE") or ""
    if conf["SECRETS_KEYS"]:
        yield Finding("keys", OK, "encryption keys come from the environment (TENANTRY_SECRETS_KEYS)")
    elif key_file and data_dir not in Path(key_file).resolve().parents:
        yield Finding("keys", OK, f"encryption keys live in {key_file}, outside the data directory")
    else:
        where = key_file or str(data_dir / "secrets.key")
        yield Finding("keys", WARNING, f"encryption keys live in {where}, inside the data directory: a copy of "
                      "the data (a backup, a stolen disk image) carries the keys that decrypt it",
                      "move them to the environment file (TENANTRY_SECRETS_KEYS) or a file outside "
                      f"{data_dir} (TENANTRY_SECRETS_KEY_FILE) and back them up separately")
    if not os.environ.get("TENANTRY_SECRET_KEY"):
        yield Finding("keys", WARNING, f"the session signing key is generated in {data_dir / 'secret_key'}",
                      "set TENANTRY_SECRET_KEY in the environment file (tenantry init)")


# --- dependencies ------------------------------------------------------------------------------
def _probe(check: str, probe: Callable[[], str], fix: str) -> Iterator[Finding]:
    try:
        yield Finding(check, OK, probe())
    except Exception as exc:  # each check reports; doctor never stops at the first problem
        yield Finding(check, FAILURE, _error(exc), fix)


def check_database() -> Iterator[Finding]:
    yield from _probe("database", probe_database, "check DATABASE_URL and that PostgreSQL runs")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        yield Finding("database", WARNING, "SQLite: one writer at a time, fine on a laptop",
                      "use PostgreSQL in production: DATABASE_URL=postgres://tenantry:…@127.0.0.1/tenantry")


def check_queue() -> Iterator[Finding]:
    from tenantry.ops.probes import probe_queue

    yield from _probe("queue", probe_queue, "check REDIS_URL and that Redis runs")
    if not settings.REDIS_URL:
        yield Finding("queue", WARNING, "the task queue is a SQLite file: one worker process only",
                      "use Redis in production: REDIS_URL=redis://127.0.0.1:6379/0")


def check_docker() -> Iterator[Finding]:
    yield from _probe("docker", probe_docker, "start the engine (systemctl start docker) and check DOCKER_HOST "
                      "and that Tenantry's user may use the socket")


def check_docker_firewall() -> Iterator[Finding]:
    from tenantry.ops.doctor_firewall import docker_firewall_findings

    yield from docker_firewall_findings(Finding, OK, WARNING)  # type: ignore[misc]


def check_subnet_pool() -> Iterator[Finding]:
    from tenantry.ops.doctor_network import subnet_pool_findings

    yield from subnet_pool_findings(Finding, OK, WARNING, FAILURE)  # type: ignore[misc]


def check_proxy() -> Iterator[Finding]:
    if settings.TENANTRY.get("ROUTING") == "caddy":
        yield from _probe("proxy", probe_proxy, "start Caddy (`tenantry up` does; or `caddy run --config "
                          "<TENANTRY_CADDY_DIR>/caddy.json` after `tenantry proxy_config`) and check "
                          "TENANTRY_PROXY_INTERNAL_PORT (its admin API)")
        from tenantry.routing.backends.caddy import tls_refusal

        refusal = tls_refusal()
        if refusal:
            yield Finding("proxy", FAILURE, refusal, "TENANTRY_ROUTING=traefik, or unset TENANTRY_ACME_CA")
        yield Finding("proxy", WARNING, CADDY_GAPS, "TENANTRY_ROUTING=traefik where these matter")
        return
    yield from _probe("proxy", probe_proxy, "start Traefik (systemctl start tenantry-traefik) and check "
                      "TENANTRY_PROXY_INTERNAL_PORT")


def _resolve(name: str) -> list[str]:
    resolver = (settings.TENANTRY.get("DNS_RESOLVER") or os.environ.get("TENANTRY_DNS_RESOLVER", "")).strip()
    if resolver:
        import dns.resolver

        client = dns.resolver.Resolver(configure=False)
        first = resolver.split(",")[0].strip()
        host, _, port = first.partition(":")
        client.nameservers = [host]
        client.port = int(port or 53)
        client.lifetime = PROBE_TIMEOUT_SECONDS
        return [answer.to_text() for answer in client.resolve(name, "A")]
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)})


def check_wildcard_dns() -> Iterator[Finding]:
    domain = settings.TENANTRY["BASE_DOMAIN"]
    if domain == "localhost" or domain.endswith(".localhost"):
        # Browsers resolve *.localhost themselves; the system resolver may not.
        yield Finding("dns", WARNING, f"*.{domain} is a development domain, reachable from this machine only",
                      "set TENANTRY_BASE_DOMAIN to a domain with a wildcard record (*.apps.example.com)")
        return
    # A name nobody created: only a wildcard record answers it.
    probe_name = f"doctor-{secrets.token_hex(4)}.{domain}"
    fix = f"create a wildcard record: *.{domain} A <this server's public address>"
    try:
        addresses = _resolve(probe_name)
    except Exception as exc:  # NXDOMAIN, timeout, no resolver
        yield Finding("dns", FAILURE, f"{probe_name} does not resolve ({_error(exc)}): instances' addresses "
                      "will not reach this server", fix)
        return
    if not addresses:
        yield Finding("dns", FAILURE, f"{probe_name} resolves to nothing", fix)
    else:
        yield Finding("dns", OK, f"*.{domain} resolves to {', '.join(addresses)}")


def check_dashboard() -> Iterator[Finding]:
    from tenantry.ops.doctor_dashboard import dashboard_findings

    yield from dashboard_findings(Finding, _resolve, OK, WARNING, FAILURE)  # type: ignore[misc]


def check_acme() -> Iterator[Finding]:
    tls = getattr(settings, "TLS", None) or {}
    ca = (tls.get("ca") if isinstance(tls, dict) else "") or os.environ.get("TENANTRY_ACME_CA", "")
    ca = ca.strip()
    if not ca:
        yield Finding("acme", WARNING, "ACME is off: instances and the dashboard are served over plain HTTP",
                      "set TENANTRY_ACME_CA=staging (then production) and TENANTRY_ACME_EMAIL")
    elif ca == "staging":
        yield Finding("acme", WARNING, "ACME uses Let's Encrypt's staging CA: browsers do not trust its "
                      "certificates", "once staging certificates are issued, set TENANTRY_ACME_CA=production")
    elif ca == "production":
        yield Finding("acme", OK, "ACME uses Let's Encrypt's production CA")
    elif ca.startswith("https://"):
        yield Finding("acme", OK, f"ACME uses the CA at {ca}")
    else:
        yield Finding("acme", FAILURE, f"TENANTRY_ACME_CA={ca!r} is neither staging, production nor an https URL",
                      "set TENANTRY_ACME_CA to staging, production or a directory URL")


def check_smtp() -> Iterator[Finding]:
    if not settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
        yield Finding("smtp", WARNING, "emails are printed to the console, not sent: customers get no verification "
                      "mail", "set TENANTRY_EMAIL_HOST (and _PORT, _USER, _PASSWORD, _FROM)")
        return
    host, port = settings.EMAIL_HOST, settings.EMAIL_PORT
    try:
        with smtplib.SMTP(host, port, timeout=PROBE_TIMEOUT_SECONDS * 2) as smtp:
            smtp.ehlo()
            if settings.EMAIL_USE_TLS:
                smtp.starttls()
                smtp.ehlo()
            if settings.EMAIL_HOST_USER:
                smtp.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
    except (OSError, smtplib.SMTPException) as exc:
        yield Finding("smtp", FAILURE, f"SMTP server {host}:{port} refused or did not answer ({_error(exc)})",
                      "check TENANTRY_EMAIL_HOST, _PORT, _TLS and the credentials; outbound port open?")
        return
    yield Finding("smtp", OK, f"SMTP server {host}:{port} answers")


def check_s3() -> Iterator[Finding]:
    bucket = os.environ.get("TENANTRY_BACKUP_S3_BUCKET", "")
    if not bucket:
        yield Finding("s3", OK, "no S3 backup target configured (backups stay on this machine)")
        return
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=os.environ.get("TENANTRY_BACKUP_S3_ENDPOINT") or None,
                          region_name=os.environ.get("TENANTRY_BACKUP_S3_REGION") or None,
                          aws_access_key_id=os.environ.get("TENANTRY_BACKUP_S3_ACCESS_KEY") or None,
                          aws_secret_access_key=os.environ.get("TENANTRY_BACKUP_S3_SECRET_KEY") or None,
                          config=Config(connect_timeout=PROBE_TIMEOUT_SECONDS, read_timeout=PROBE_TIMEOUT_SECONDS,
                                        retries={"max_attempts": 1}))
    try:
        client.head_bucket(Bucket=bucket)
    except Exception as exc:  # botocore's ClientError, EndpointConnectionError, NoCredentialsError…
        yield Finding("s3", FAILURE, f"S3 bucket {bucket} is not reachable ({_error(exc)})",
                      "check TENANTRY_BACKUP_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY")
        return
    yield Finding("s3", OK, f"S3 bucket {bucket} answers")


def _listeners() -> dict[int, set[str]]:
    """Listening TCP sockets of this machine: port -> addresses (from /proc, no tool needed)."""
    found: dict[int, set[str]] = {}
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            if family == 4:
                address = str(ipaddress.IPv4Address(raw[::-1]))
            else:
                address = str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
            found.setdefault(int(port_hex, 16), set()).add(address)
    return found


def check_bind_addresses() -> Iterator[Finding]:
    conf = settings.TENANTRY
    internal = {"control plane": (conf["WEB_HOST"], conf["WEB_PORT"]),
                "edge": ("127.0.0.1", conf["EDGE_PORT"]),
                ("Caddy admin API" if conf.get("ROUTING") == "caddy" else "Traefik API/metrics"):
                    ("127.0.0.1", conf["PROXY_INTERNAL_PORT"])}
    listening = _listeners()
    problems = 0
    for what, (host, port) in internal.items():
        exposed = sorted(a for a in listening.get(port, set()) if not ipaddress.ip_address(a).is_loopback)
        try:
            configured_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            configured_loopback = host == "localhost"
        if not configured_loopback or exposed:
            problems += 1
            on = ", ".join(exposed) or host
            yield Finding("bind", FAILURE, f"the {what} (port {port}) listens on {on}, not on loopback: anyone "
                          "(and every container) can reach it without the proxy",
                          "bind it to 127.0.0.1 (TENANTRY_WEB_HOST=127.0.0.1); only Traefik's :80/:443 face "
                          "the internet")
    if not problems:
        yield Finding("bind", OK, "the control plane, the edge and Traefik's API listen on loopback only")


def _command_version(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({_error(exc)})"
    for line in result.stdout.splitlines():
        if "version" in line.lower():
            return line.split(":", 1)[-1].strip()
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else "unknown"


def check_versions() -> Iterator[Finding]:
    from importlib.metadata import PackageNotFoundError, version

    import django

    from tenantry.core.management.commands.up import caddy_binary, traefik_binary

    try:
        tenantry_version = version("tenantry")
    except PackageNotFoundError:
        tenantry_version = "source"
    caddy = settings.TENANTRY.get("ROUTING") == "caddy"
    try:
        if caddy:  # `caddy version` prints "v2.6.2 h1:…" (no "version" word)
            proxy = subprocess.run([caddy_binary(), "version"], capture_output=True, text=True, timeout=5,
                                   check=False).stdout.split(" ", 1)[0].strip() or "unknown"
        else:
            proxy = _command_version([traefik_binary(), "version"])
    except Exception as exc:  # not installed
        proxy = f"missing ({_error(exc)})"
    docker_version = "unreachable"
    try:
        import docker

        client = docker.DockerClient(base_url=docker_base_url(), timeout=int(PROBE_TIMEOUT_SECONDS))
        docker_version = client.version().get("Version", "unknown")
        client.close()
    except Exception:  # reported by the docker check already
        docker_version = "unreachable"
    yield Finding("versions", OK, f"Tenantry {tenantry_version}, Python {platform.python_version()}, "
                  f"Django {django.get_version()}, Docker {docker_version}, {'Caddy' if caddy else 'Traefik'} {proxy}")


CHECKS: list[Callable[[], Iterator[Finding]]] = [
    check_secrets, check_debug, check_key_location, check_database, check_queue, check_docker,
    check_docker_firewall, check_subnet_pool, check_proxy,
    check_wildcard_dns, check_dashboard, check_acme, check_smtp, check_s3, check_bind_addresses, check_versions,
]


def run_doctor() -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings.extend(check())
        except Exception as exc:  # a broken check is itself a finding, never a crash
            name = check.__name__.removeprefix("check_")
            findings.append(Finding(name, FAILURE, f"the check crashed: {_error(exc)}"))
    return findings
