"""deploy/compose.yaml on this machine's engine: the Tenantry image built locally from the
repository (scripts/build-tenantry-base.sh, then compose's own build of deploy/Dockerfile), an
environment file written by `tenantry init`, PostgreSQL and Redis as services, the migrate step,
`tenantry serve` (web, task workers, scheduler, edge) and Traefik; `/readyz` answers 200, then everything is removed."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tenantry.ops.install import parse_environment_file, write_environment_file
from tests.conftest import ROOT, wait_for
from tests.testenv import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow,
              # builds and runs its own databases: once per `make test`, in the PostgreSQL pass
              pytest.mark.postgres, pytest.mark.timeout(900)]

COMPOSE = ROOT / "deploy" / "compose.yaml"


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    pytest.fail("neither docker-compose nor the compose plugin is installed (apt-get install docker-compose)")


def test_compose_builds_and_starts_the_stack_and_readyz_answers(tmp_path, docker_client):
    built = subprocess.run([str(ROOT / "scripts/build-tenantry-base.sh")], capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    run = secrets.token_hex(3)
    web, edge = free_port(), free_port()
    env_file = tmp_path / "tenantry.env"
    subprocess.run([sys.executable, "-m", "tenantry.cli", "init", str(env_file), "--base-domain", "apps.compose.test",
                    "--dashboard-url", f"http://127.0.0.1:{web}", "--data-dir", "/var/lib/tenantry"],
                   check=True, capture_output=True, text=True, env={**os.environ, "TENANTRY_DATA_DIR": str(tmp_path)})
    values = parse_environment_file(env_file.read_text())
    assert len(values["TENANTRY_SECRET_KEY"]) >= 50 and values["TENANTRY_DEBUG"] == "0"
    # This machine runs other Tenantry installations: ports, labels and pool of its own.
    pool = ipaddress.ip_network(os.environ["TENANTRY_SUBNET_POOL"])
    databases_subnet = list(pool.subnets(new_prefix=24))[-1]
    values.update({
        "TENANTRY_WEB_PORT": str(web), "TENANTRY_EDGE_PORT": str(edge), "TENANTRY_WEB_WORKERS": "2",
        "TENANTRY_PROXY_HOST": "127.0.0.1", "TENANTRY_PROXY_PORT": str(free_port()),
        "TENANTRY_PROXY_INTERNAL_PORT": str(free_port()), "TENANTRY_INSTALLATION_ID": f"compose-{run}",
        "TENANTRY_RESOURCE_PREFIX": f"tc{run}", "TENANTRY_QUEUE_NAME": f"tenantry-compose-{run}",
        "TENANTRY_SUBNET_POOL": str(pool),
    })
    write_environment_file(env_file, values)
    project = f"tenantry-compose-{run}"
    env = {**os.environ, "TENANTRY_ENV_FILE": str(env_file), "TENANTRY_DB_PASSWORD": secrets.token_urlsafe(24),
           "TENANTRY_DB_PORT": str(free_port()), "TENANTRY_REDIS_PORT": str(free_port()),
           "TENANTRY_COMPOSE_SUBNET": str(databases_subnet)}
    compose = [*compose_command(), "--project-name", project, "--file", str(COMPOSE)]
    log = Path(tmp_path / "compose.log")
    try:
        up = subprocess.run([*compose, "up", "--detach", "--build"], env=env, capture_output=True, text=True,
                            timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr

        def ready():
            try:
                response = requests.get(f"http://127.0.0.1:{web}/readyz", timeout=5)
            except requests.RequestException:
                return None
            return response if response.status_code == 200 else None

        try:
            response = wait_for(ready, timeout=180, interval=1, what="/readyz of the compose stack")
        except AssertionError:
            logs = subprocess.run([*compose, "logs", "--no-color", "--tail", "40"], env=env, capture_output=True,
                                  text=True)
            log.write_text(logs.stdout + logs.stderr)
            raise AssertionError(logs.stdout[-6000:]) from None
        body = response.json()
        assert body["status"] == "ok" and set(body["checks"]) == {"database", "queue", "docker", "proxy"}
        services = subprocess.run([*compose, "ps", "--services", "--filter", "status=running"], env=env,
                                  capture_output=True, text=True, check=True).stdout.split()
        assert set(services) >= {"postgres", "redis", "tenantry", "traefik"}
        roles = subprocess.run([*compose, "exec", "-T", "tenantry", "sh", "-c", "cat /proc/[0-9]*/comm"], env=env,
                               capture_output=True, text=True, check=True).stdout.split()
        # several web processes (gunicorn's arbiter and its two workers), two task workers, the scheduler, the edge
        assert roles.count("tn-web") == 3 and {"tn-worker-1", "tn-worker-2", "tn-scheduler", "tn-edge"} <= set(roles)
        # The migrate step ran and finished: the schema is there, the admin login exists.
        migrate = subprocess.run([*compose, "logs", "--no-color", "migrate"], env=env, capture_output=True,
                                 text=True).stdout
        assert "Created the admin login" in migrate
    finally:
        subprocess.run([*compose, "down", "--volumes", "--remove-orphans", "--timeout", "20"], env=env,
                       capture_output=True, timeout=300)
    left = docker_client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    assert left == []
