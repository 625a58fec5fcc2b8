"""`tenantry doctor`: passes on a good setup (real Docker, Traefik, SMTP and a wildcard DNS
answered by pebble-challtestsrv), and fails on each deliberately broken check, naming it."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.ops.doctor import run_doctor
from tests.conftest import wait_for
from tests.testenv import free_port

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


@pytest.fixture(scope="module")
def wildcard_dns():
    """pebble-challtestsrv's DNS answers every A query with 127.0.0.1: a wildcard record."""
    binary = shutil.which("pebble-challtestsrv")
    assert binary, "apt-get install pebble (pebble-challtestsrv)"
    dns_port, management = free_port(), free_port()
    process = subprocess.Popen([binary, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
                                "-tlsalpn01", "", "-management", f"127.0.0.1:{management}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answering():
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", management)) == 0

    wait_for(answering, timeout=10, what="pebble-challtestsrv")
    yield f"127.0.0.1:{dns_port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def good_setup(db, traefik, docker_client, mailbox, wildcard_dns, settings, monkeypatch):
    strong = {name: os.urandom(33).hex() for name in ("secret", "edge", "api", "hook", "metrics")}
    monkeypatch.setenv("TENANTRY_SECRET_KEY", strong["secret"])
    for name in ("TENANTRY_ACME_CA", "TENANTRY_BACKUP_S3_BUCKET", "STRIPE_WEBHOOK_SECRET", "LAGO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings.SECRET_KEY = strong["secret"]
    settings.DEBUG = False
    settings.PAYMENT_GATEWAY = {**settings.PAYMENT_GATEWAY, "API_KEY": strong["api"], "WEBHOOK_SECRET": strong["hook"]}
    settings.TENANTRY = {**settings.TENANTRY, "EDGE_SECRET": strong["edge"], "METRICS_TOKEN": strong["metrics"],
                         "SECRETS_KEYS": [Fernet.generate_key().decode()], "BASE_DOMAIN": "apps.example.test",
                         "DNS_RESOLVER": wildcard_dns, "PROXY_INTERNAL_PORT": traefik.internal_port,
                         "WEB_HOST": "127.0.0.1", "WEB_PORT": free_port(), "EDGE_PORT": free_port()}
    return settings


def doctor() -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("doctor", "--json", stdout=out)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, json.loads(out.getvalue())


def failed(report: dict) -> dict[str, str]:
    return {f["check"]: f["message"] for f in report["findings"] if f["status"] == "failure"}


def test_doctor_passes_on_a_good_setup(good_setup):
    code, report = doctor()
    assert code == 0 and report["ok"], failed(report)
    checks = {f["check"]: f for f in report["findings"]}
    assert {"secrets", "debug", "keys", "database", "queue", "docker", "proxy", "dns", "acme", "smtp", "s3",
            "bind", "versions"} <= set(checks)
    assert checks["dns"]["status"] == "ok" and "127.0.0.1" in checks["dns"]["message"]
    assert checks["smtp"]["status"] == "ok"
    assert checks["acme"]["status"] == "warning" and "off" in checks["acme"]["message"]
    assert "Docker" in checks["versions"]["message"] and "Traefik" in checks["versions"]["message"]
    assert all(f["fix"] for f in report["findings"] if f["status"] == "warning")


def _listen_everywhere(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen()
    return sock


BREAKAGES = {
    "secrets": lambda s, tmp: setattr(s, "SECRET_KEY", "django-insecure-abcdefghijklmnopqrstuvwxyz0123456789"),
    "debug": lambda s, tmp: setattr(s, "DEBUG", True),
    "docker": lambda s, tmp: setattr(s, "RUNTIME_BACKENDS", {"default": {
        **s.RUNTIME_BACKENDS["default"], "OPTIONS": {"base_url": f"unix://{tmp}/no-docker.sock"}}}),
    "proxy": lambda s, tmp: setattr(s, "TENANTRY", {**s.TENANTRY, "PROXY_INTERNAL_PORT": free_port()}),
    "dns": lambda s, tmp: setattr(s, "TENANTRY", {**s.TENANTRY, "DNS_RESOLVER": f"127.0.0.1:{free_port()}"}),
    "acme": lambda s, tmp: os.environ.__setitem__("TENANTRY_ACME_CA", "prod"),
    "smtp": lambda s, tmp: setattr(s, "EMAIL_PORT", free_port()),
    "s3": lambda s, tmp: (os.environ.__setitem__("TENANTRY_BACKUP_S3_BUCKET", "backups"),
                          os.environ.__setitem__("TENANTRY_BACKUP_S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")),
    "bind": lambda s, tmp: setattr(s, "TENANTRY", {**s.TENANTRY, "WEB_HOST": "0.0.0.0"}),
}


@pytest.mark.parametrize("check", sorted(BREAKAGES))
def test_doctor_fails_on_each_broken_check_with_its_fix(good_setup, check, tmp_path, monkeypatch):
    for name in ("TENANTRY_ACME_CA", "TENANTRY_BACKUP_S3_BUCKET", "TENANTRY_BACKUP_S3_ENDPOINT"):
        monkeypatch.setenv(name, "")  # restored after the test, whatever the breakage sets
    BREAKAGES[check](good_setup, tmp_path)
    code, report = doctor()
    assert code == 1 and not report["ok"]
    assert set(failed(report)) == {check}, failed(report)
    broken = next(f for f in report["findings"] if f["check"] == check and f["status"] == "failure")
    assert broken["fix"] and broken["message"]


def test_an_internal_port_exposed_on_every_interface_is_a_failure(good_setup):
    sock = _listen_everywhere(good_setup.TENANTRY["EDGE_PORT"])
    try:
        findings = [f for f in run_doctor() if f.status == "failure"]
    finally:
        sock.close()
    assert [f.check for f in findings] == ["bind"]
    assert "edge" in findings[0].message and "0.0.0.0" in findings[0].message


def test_doctor_cli_exits_1_naming_the_database_and_queue_when_they_are_down(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nothing",
           "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "TENANTRY_DATA_DIR": str(tmp_path),
           "TENANTRY_HUEY_IMMEDIATE": "0"}
    result = subprocess.run([sys.executable, "-m", "tenantry.cli", "doctor", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert {"database", "queue"} <= set(failed(report))
    human = subprocess.run([sys.executable, "-m", "tenantry.cli", "doctor"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert human.returncode == 1
    assert "[FAIL] database:" in human.stdout and "fix: check DATABASE_URL" in human.stdout
