"""Tenantry in its production process layout (deploy/systemd), started for real on this machine:
its own PostgreSQL database and Redis queue, gunicorn with several workers, Huey workers on Redis
(`--no-periodic`), the scheduler, the edge, and Traefik serving https with certificates from the
test's Pebble (tests/routing/acme.py). Every process is configured the way an operator's
environment file configures it: environment variables only.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.conftest import wait_for
from tests.routing.acme import AcmeWorld
from tests.testenv import free_port

TENANTRY = [sys.executable, "-m", "tenantry.cli"]


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _postgres(database_url: str, command: str, name: str) -> None:
    parts = urlsplit(database_url)
    subprocess.run([command, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
                    "-U", parts.username or "postgres", *(["--if-exists"] if command == "dropdb" else []), name],
                   check=True, capture_output=True)


@dataclass
class ProductionStack:
    directory: Path
    world: AcmeWorld
    base_domain: str
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    database: str = ""
    postgres_server: str = ""
    http_port: int = 0
    https_port: int = 0
    web_port: int = 0

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def configure(self, *, http_port: int) -> None:
        run = secrets.token_hex(3)
        self.postgres_server = os.environ.get("TENANTRY_TEST_POSTGRES_URL",
                                              "postgres://postgres@127.0.0.1:5432/tenantry").rsplit("/", 1)[0]
        self.database = f"tenantry_stack_{run}"
        self.http_port, self.https_port, self.web_port = http_port, free_port(), free_port()
        data = self.directory / "data"
        data.mkdir(parents=True)
        redis = os.environ.get("TENANTRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tenantry.settings",
            "DATABASE_URL": f"{self.postgres_server}/{self.database}",
            "REDIS_URL": redis,
            "TENANTRY_QUEUE_NAME": f"tenantry-stack-{run}",
            "TENANTRY_HUEY_IMMEDIATE": "0",
            # Production's patience for an app to answer after a (re)start: n8n on a machine
            # shared with other test runs can take more than the suite's 30 s.
            "TENANTRY_HEALTH_TIMEOUT_SECONDS": "240",
            "TENANTRY_DATA_DIR": str(data),
            "TENANTRY_INSTALLATION_ID": f"stack-{run}",
            "TENANTRY_RESOURCE_PREFIX": f"ts{run}",
            "TENANTRY_SECRET_KEY": secrets.token_urlsafe(50),
            "TENANTRY_DEBUG": "0",
            "TENANTRY_BASE_DOMAIN": self.base_domain,
            "TENANTRY_WEB_PORT": str(self.web_port),
            "TENANTRY_EDGE_PORT": str(free_port()),
            "TENANTRY_PROXY_PORT": str(http_port),
            "TENANTRY_PROXY_HTTPS_PORT": str(self.https_port),
            "TENANTRY_PROXY_INTERNAL_PORT": str(free_port()),
            # TLS: certificates from Pebble, the wildcard by DNS-01 through lego's `exec` provider
            # (a hook writing challtestsrv's TXT records), customers' domains by HTTP-01.
            "TENANTRY_ACME_CA": self.world.pebble_url,
            "TENANTRY_ACME_EMAIL": "ops@tenantry.test",
            "TENANTRY_ACME_CHALLENGE": "dns",
            "TENANTRY_ACME_DNS_PROVIDER": "exec",
            "TENANTRY_ACME_DNS_RESOLVERS": self.world.dns_address,
            "TENANTRY_ACME_DNS_PROPAGATION_CHECK": "0",
            "TENANTRY_HSTS_SECONDS": "600",
            "TENANTRY_DNS_RESOLVER": self.world.dns_address,
            # Traefik's own (lego's) variables: trust Pebble's listener, the DNS hook.
            "LEGO_CA_CERTIFICATES": str(self.world.listener_cert),
            "EXEC_PATH": str(self.world.dns_hook),
            "EXEC_POLLING_INTERVAL": "1",
            "EXEC_PROPAGATION_TIMEOUT": "30",
        }
        self.env.pop("TENANTRY_EDGE_URL", None)

    def prepare(self) -> None:
        """What tenantry-migrate.service runs before the others start."""
        _postgres(self.env["DATABASE_URL"], "createdb", self.database)
        for command in (["migrate", "--noinput", "-v", "0"], ["proxy_config"]):
            subprocess.run([*TENANTRY, *command], env=self.env, check=True, capture_output=True, timeout=300)

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.directory / f"{name.replace(' ', '-')}.log", "a")  # noqa: SIM115
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes[name] = process
        return process

    def start_all(self, *, web_workers: int = 2, workers: int = 2) -> None:
        """The units of deploy/systemd, with their command lines: Traefik, and `tenantry serve`
        (gunicorn's arbiter and its workers, the task workers, the scheduler, the edge)."""
        from tenantry.core.management.commands.up import traefik_binary

        traefik_dir = Path(self.env["TENANTRY_DATA_DIR"]) / "traefik"
        self.start("traefik", [traefik_binary(), f"--configFile={traefik_dir / 'traefik.yml'}"])
        self.start("server", [*TENANTRY, "serve", "--web-workers", str(web_workers), "--workers", str(workers)])

        def ready() -> bool:
            try:
                return requests.get(f"{self.web}/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=120, interval=0.5, what="/readyz of the production stack")

    def token(self) -> str:
        return subprocess.run([*TENANTRY, "tokens", "create", "stack", "--quiet"], env=self.env,
                              capture_output=True, text=True, check=True).stdout.strip()

    def roles(self) -> dict[str, list[int]]:
        """The server's processes by role (their process names): tn-web (gunicorn's arbiter,
        then its workers, children of the arbiter), tn-worker-N, tn-scheduler, tn-edge."""
        found: dict[str, list[int]] = {}
        parents = children_of(self.processes["server"].pid)
        for pid in parents + [grandchild for parent in parents for grandchild in children_of(parent)]:
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            found.setdefault(name, []).append(pid)
        return found

    def web_workers(self) -> list[int]:
        arbiter = next(pid for pid in children_of(self.processes["server"].pid)
                       if Path(f"/proc/{pid}/comm").read_text().strip() == "tn-web")
        return children_of(arbiter)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        from tenantry.runtime.backends.docker import DockerRuntime

        runtime = DockerRuntime(installation_id=self.env["TENANTRY_INSTALLATION_ID"])
        runtime.remove_resources(runtime.list_managed())
        runtime.close()
        _postgres(self.env["DATABASE_URL"], "dropdb", self.database)
        import redis

        queue = redis.Redis.from_url(self.env["REDIS_URL"])
        keys = list(queue.scan_iter(f"*{self.env['TENANTRY_QUEUE_NAME']}*"))
        if keys:
            queue.delete(*keys)
