"""`/healthz` (alive, no database) and `/readyz` (database, queue, Docker, proxy; 503 names the
failed one), against the real test Traefik and Docker engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import wait_for
from tests.testenv import free_port

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


@pytest.fixture()
def ready_platform(db, traefik, docker_client, settings):
    settings.TENANTRY = {**settings.TENANTRY, "PROXY_INTERNAL_PORT": traefik.internal_port}
    return traefik


def test_readyz_answers_200_when_everything_answers(client, ready_platform):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "queue", "docker", "proxy"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_names_the_proxy_when_traefik_does_not_answer(client, ready_platform, settings):
    settings.TENANTRY = {**settings.TENANTRY, "PROXY_INTERNAL_PORT": free_port()}
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["proxy"]
    assert body["checks"]["database"]["ok"] and body["checks"]["docker"]["ok"]


def test_readyz_names_docker_when_the_engine_is_unreachable(client, ready_platform, settings, tmp_path):
    settings.RUNTIME_BACKENDS = {"default": {**settings.RUNTIME_BACKENDS["default"],
                                             "OPTIONS": {"base_url": f"unix://{tmp_path}/no-docker.sock"}}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["docker"]
    assert "Docker" in response.json()["checks"]["docker"]["detail"]


def test_healthz_is_alive_without_touching_the_database(client):
    # No `db` fixture: pytest-django makes any query here raise, so this passing proves none ran.
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_web_process_whose_database_is_down_is_alive_but_not_ready(tmp_path):
    """A real gunicorn whose PostgreSQL does not answer: /healthz 200 (don't restart it), /readyz
    503 naming the database."""
    port, dead_db = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead_db}/nothing",
           "TENANTRY_DATA_DIR": str(tmp_path), "TENANTRY_HUEY_IMMEDIATE": "0"}
    env.pop("REDIS_URL", None)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "tenantry.wsgi:application", "--bind",
                            f"127.0.0.1:{port}", "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    http = requests.Session()
    http.trust_env = False
    try:
        def alive():
            try:
                return http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except requests.RequestException:
                return None

        assert wait_for(alive, timeout=30, what="gunicorn").status_code == 200
        ready = http.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 503
        assert "database" in ready.json()["failed"]
        assert not ready.json()["checks"]["database"]["ok"]
    finally:
        web.terminate()
        web.wait(timeout=10)
