"""`tenantry up` — what `make up` runs — starts web, worker and proxy that work together, and
stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import wait_for
from tests.testenv import free_port

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]


def _start_up(name: str, *, reference_gateway: bool, **ports: int) -> tuple[subprocess.Popen, dict[str, str]]:
    """A real `tenantry up` of its own (data dir, ports, installation id), on SQLite and the file
    queue as a newcomer's `make up` runs it; returns the process and its environment."""
    data_dir = tempfile.mkdtemp(prefix="tenantry-up-")
    env = {**os.environ, "TENANTRY_DATA_DIR": data_dir, "TENANTRY_WEB_PORT": str(free_port()),
           "TENANTRY_PROXY_PORT": str(free_port()), "TENANTRY_PROXY_INTERNAL_PORT": str(free_port()),
           "TENANTRY_INSTALLATION_ID": f"{name}-{os.getpid()}", "TENANTRY_RESOURCE_PREFIX": f"{name}{os.getpid()}",
           # its own pool: two suites on one machine (e.g. one per database) must not collide
           "TENANTRY_SUBNET_POOL": os.environ.get("TENANTRY_TEST_UP_SUBNET_POOL", "10.241.0.0/16"),
           "TENANTRY_HUEY_IMMEDIATE": "0",
           "TENANTRY_GATEWAY_URL": f"http://127.0.0.1:{free_port()}",
           "TENANTRY_RUN_REFERENCE_GATEWAY": "1" if reference_gateway else "0",
           "TENANTRY_EDGE_PORT": str(free_port()), "TENANTRY_SUPPORT_SMTP_PORT": str(free_port()),
           **{name: str(port) for name, port in ports.items()}}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    up = subprocess.Popen([sys.executable, "-m", "tenantry.cli", "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return up, env


def _quiet_session(*, timeout: float) -> tuple[requests.Session, Callable[..., requests.Response | None]]:
    """A session that ignores proxy settings, and a GET through it that gives None instead of
    raising while the server is not there (yet, or again)."""
    http = requests.Session()
    http.trust_env = False

    def get(url: str, **kwargs: Any) -> requests.Response | None:
        try:
            return http.get(url, timeout=timeout, **kwargs)
        except requests.RequestException:
            return None

    return http, get


def _stop_up(up: subprocess.Popen, installation: str) -> str:
    """Stop `tenantry up` and remove what its instances left on the engine; its output."""
    from tenantry.runtime.backends.docker import DockerRuntime

    os.killpg(up.pid, signal.SIGTERM)
    output, _ = up.communicate(timeout=30)
    runtime = DockerRuntime(installation_id=installation)
    runtime.remove_resources(runtime.list_managed())
    return output


def _sign_in(http: requests.Session, env: dict[str, str]) -> None:
    """An API token made with the CLI, as an operator would, on every request of `http` from now on."""
    token = subprocess.run([sys.executable, "-m", "tenantry.cli", "tokens", "create", "t", "--quiet"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    http.headers["Authorization"] = f"Bearer {token}"


def _create_hello(http: requests.Session, web: int, slug: str, *, timeout: float) -> requests.Response:
    """Ask the API for a hello instance; the request must be accepted (202)."""
    created = http.post(f"http://127.0.0.1:{web}/api/v1/instances", json={"slug": slug, "app": "hello"},
                        timeout=timeout)
    assert created.status_code == 202, created.text
    return created


def test_up_runs_the_whole_product(docker_client):
    up, env = _start_up("up", reference_gateway=True)
    installation = env["TENANTRY_INSTALLATION_ID"]
    web, proxy, internal, edge = (int(env[f"TENANTRY_{name}_PORT"]) for name in ("WEB", "PROXY", "PROXY_INTERNAL",
                                                                                  "EDGE"))
    gateway = int(env["TENANTRY_GATEWAY_URL"].rsplit(":", 1)[1])
    http = requests.Session()
    http.trust_env = False
    try:
        def web_ready() -> bool:
            try:
                # A generous per-request timeout: the first schema build takes seconds on a loaded machine, and
                # a 1 s client timeout would abandon every attempt and pile more work on the server.
                return http.get(f"http://127.0.0.1:{web}/api/v1/openapi.json", timeout=20).ok
            except requests.RequestException:
                return False

        wait_for(web_ready, timeout=180, what="the control plane")  # a fresh SQLite + migrations, on a busy machine
        _sign_in(http, env)
        created = _create_hello(http, web, "upped", timeout=30)

        def answered() -> bool:
            try:
                response = http.get(f"http://127.0.0.1:{proxy}/", headers={"Host": "upped.localhost"}, timeout=2)
            except requests.RequestException:
                return False
            return response.status_code == 200 and "Hello from upped" in response.text

        wait_for(answered, timeout=60, what="the instance through the proxy")  # worker + Traefik did it
        # `/_tenantry/…` on the instance's address reaches the edge listener through the proxy
        # (which adds the edge's credential); the dashboard has no edge at all.
        refused = http.get(f"http://127.0.0.1:{proxy}/_tenantry/login?ticket=nope",
                           headers={"Host": "upped.localhost"}, timeout=5)
        assert refused.status_code == 403 and refused.headers["X-Tenantry-State"] == "login-refused"
        instance_id = created.json()["instance"]["id"]
        assert http.get(f"http://127.0.0.1:{web}/_edge/{instance_id}/", timeout=5).status_code == 404
        assert http.get(f"http://127.0.0.1:{edge}/_edge/{instance_id}/_tenantry/login?ticket=nope",
                        headers={"Host": "upped.localhost"}, timeout=5).status_code == 404  # no credential
        # the control plane and Traefik's API listen on loopback only
        assert http.get(f"http://127.0.0.1:{internal}/ping", timeout=2).text == "OK"
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        # the reference Mobile Money gateway runs beside it, on loopback too
        assert http.get(f"http://127.0.0.1:{gateway}/healthz", timeout=2).ok
        # replies to support tickets arrive through Tenantry's own SMTP server, on loopback too
        smtp_port = int(env["TENANTRY_SUPPORT_SMTP_PORT"])
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
            assert smtp.ehlo()[0] == 250
            smtp.mail("a@example.com")
            assert smtp.rcpt("someone@example.com")[0] == 550  # not a ticket's reply address: no relay
        for port in (web, proxy, internal, gateway, edge, smtp_port):
            assert f"127.0.0.1:{port} " in listening and f"0.0.0.0:{port} " not in listening
    finally:
        output = _stop_up(up, installation)
    assert up.returncode == 0, output
    assert "Tenantry is up." in output
    assert "Mobile Money" in output
    # The console shows what a person needs: requests, operations (and errors), not the queue's
    # per-poll and per-task chatter.
    assert '"event": "request"' in output and '"path": "/api/v1/instances"' in output
    assert '"event": "operation.succeeded"' in output and '"kind": "provision"' in output
    for chatter in ("INFO:huey", "Executing tenantry", "Executed tenantry", "huey.consumer"):
        assert chatter not in output, chatter
    assert "support SMTP" in output

    def group_gone() -> bool:  # web, worker, edge and proxy were all in up's process group
        try:
            os.killpg(up.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(group_gone, timeout=10, what="every process of `tenantry up` to exit")


def test_up_refuses_to_start_on_a_taken_port_and_names_the_setting_to_change():
    """A port held by another program (a second `make up`): `up` stops at once and says which
    setting moves it; it used to start the rest and restart the child that could not bind, forever."""
    import socket

    with socket.socket() as edge, socket.socket() as smtp:
        for held in (edge, smtp):
            held.bind(("127.0.0.1", 0))
            held.listen()
        edge_port, smtp_port = edge.getsockname()[1], smtp.getsockname()[1]
        up, _ = _start_up("taken", reference_gateway=False, TENANTRY_EDGE_PORT=edge_port,
                          TENANTRY_SUPPORT_SMTP_PORT=smtp_port)
        try:
            output, _ = up.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGTERM)
            output, _ = up.communicate(timeout=30)
            pytest.fail(f"up kept running on a taken port:\n{output[-3000:]}")
    assert up.returncode != 0, output
    assert f"127.0.0.1:{edge_port} (edge) is in use: set TENANTRY_EDGE_PORT to a free port" in output, output
    assert f"127.0.0.1:{smtp_port} (support SMTP) is in use: set TENANTRY_SUPPORT_SMTP_PORT" in output, output
    assert "Tenantry is up" not in output


def _children(parent: int) -> dict[int, str]:
    """Processes whose parent is `parent`: pid -> command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            if ppid == parent:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    found[int(entry)] = handle.read().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_up_restarts_a_killed_worker_and_web_while_the_rest_keeps_serving(docker_client):
    up, env = _start_up("upk", reference_gateway=False)
    installation = env["TENANTRY_INSTALLATION_ID"]
    web, proxy = int(env["TENANTRY_WEB_PORT"]), int(env["TENANTRY_PROXY_PORT"])
    http, get = _quiet_session(timeout=2)

    def instance_answers(slug: str) -> bool:
        response = get(f"http://127.0.0.1:{proxy}/", headers={"Host": f"{slug}.localhost"})
        return response is not None and response.status_code == 200 and f"Hello from {slug}" in response.text

    def create(slug: str) -> None:
        _create_hello(http, web, slug, timeout=10)

    try:
        wait_for(lambda: (r := get(f"http://127.0.0.1:{web}/healthz")) is not None and r.ok, timeout=120,
                 what="the control plane")  # a fresh SQLite + migrations, on a busy machine
        _sign_in(http, env)
        create("before")
        wait_for(lambda: instance_answers("before"), timeout=60, what="the first instance")

        children = _children(up.pid)
        worker = next(pid for pid, command in children.items() if command.endswith("tenantry.cli worker "))
        gunicorn = next(pid for pid, command in children.items() if "gunicorn" in command)
        os.kill(worker, signal.SIGKILL)
        os.kill(gunicorn, signal.SIGKILL)
        # The proxy, the edge and the running instance never noticed.
        for _ in range(5):
            assert instance_answers("before")

        def replaced() -> bool:
            after = _children(up.pid)
            return (worker not in after and gunicorn not in after
                    and any(command.endswith("tenantry.cli worker ") for command in after.values())
                    and any("gunicorn" in command for command in after.values()))

        wait_for(replaced, timeout=30, what="a new worker and web process")
        wait_for(lambda: (r := get(f"http://127.0.0.1:{web}/healthz")) is not None and r.ok, timeout=30,
                 what="the restarted web process")
        # The restarted worker runs new operations: a second instance comes up.
        create("after")
        wait_for(lambda: instance_answers("after"), timeout=60, what="an instance provisioned by the new worker")
        assert up.poll() is None
    finally:
        output = _stop_up(up, installation)
    assert up.returncode == 0, output
    assert "worker exited with code -9" in output and "web exited with code -9" in output, output
    assert "worker restarted" in output and "web restarted" in output
    assert "stopping everything" not in output


@pytest.mark.caddy
def test_up_with_caddy_serves_switches_and_survives_a_caddy_restart(docker_client):
    """TENANTRY_ROUTING=caddy: `up` runs Caddy (admin API on the internal port, loopback), the
    instance answers through it, `/_tenantry/…` reaches the edge with its credential, hibernate
    and wake switch the route both ways, and a killed Caddy comes back with the routes published
    since `up` started (its autosave, `--resume`)."""
    up, env = _start_up("upc", reference_gateway=False, TENANTRY_ROUTING="caddy")  # type: ignore[arg-type]
    installation = env["TENANTRY_INSTALLATION_ID"]
    web, proxy, internal = (int(env[f"TENANTRY_{name}_PORT"]) for name in ("WEB", "PROXY", "PROXY_INTERNAL"))
    http, get = _quiet_session(timeout=5)

    def through_proxy(path: str = "/"):
        return get(f"http://127.0.0.1:{proxy}{path}", headers={"Host": "capped.localhost"})

    def answers() -> bool:
        response = through_proxy()
        return response is not None and response.status_code == 200 and "Hello from capped" in response.text

    try:
        wait_for(lambda: (r := get(f"http://127.0.0.1:{web}/healthz")) is not None and r.ok, timeout=180,
                 what="the control plane")
        _sign_in(http, env)
        created = _create_hello(http, web, "capped", timeout=30)
        instance_id = created.json()["instance"]["id"]
        wait_for(answers, timeout=60, what="the instance through Caddy")
        refused = through_proxy("/_tenantry/login?ticket=nope")
        assert refused is not None and refused.status_code == 403
        assert refused.headers["X-Tenantry-State"] == "login-refused"  # the edge answered: credential + prefix
        nobody = get(f"http://127.0.0.1:{proxy}/", headers={"Host": "nobody.localhost"})
        assert nobody is not None and nobody.status_code == 404
        # what is in force, read back from Caddy's admin API (loopback only)
        route = http.get(f"http://127.0.0.1:{internal}/id/i-{instance_id}", timeout=5).json()
        assert route["match"] == [{"host": ["capped.localhost"]}]
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        for port in (proxy, internal):
            assert f"127.0.0.1:{port} " in listening and f"0.0.0.0:{port} " not in listening
        probe = subprocess.run([sys.executable, "-m", "tenantry.cli", "doctor"], env=env, capture_output=True,
                               text=True, timeout=120)
        assert "Caddy answers, serving 127.0.0.1:" in probe.stdout + probe.stderr, probe.stdout + probe.stderr

        # hibernate: the route goes to the edge; the first request wakes it (through Caddy)
        assert http.post(f"http://127.0.0.1:{web}/api/v1/instances/capped/hibernate", timeout=30).status_code == 202
        wait_for(lambda: http.get(f"http://127.0.0.1:{web}/api/v1/instances/capped", timeout=10)
                 .json()["status"] == "hibernated", timeout=60, what="hibernated")
        assert "subroute" not in str(http.get(f"http://127.0.0.1:{internal}/id/i-{instance_id}", timeout=5).json())
        wait_for(answers, timeout=60, what="the instance woken by a request through Caddy")
        # The first answer comes as soon as the app does, while the wake still publishes the
        # route to it: Caddy is killed once that is done (the routes published since `up`).
        wait_for(lambda: http.get(f"http://127.0.0.1:{web}/api/v1/instances/capped", timeout=10)
                 .json()["status"] == "running", timeout=60, what="the wake to end")

        # Caddy killed: the supervisor starts it again with what it had saved (the woken route)
        caddy = next(pid for pid, command in _children(up.pid).items() if " caddy run " in f" {command}"
                     or "/caddy run" in command)
        os.kill(caddy, signal.SIGKILL)
        wait_for(lambda: caddy not in _children(up.pid) and answers(), timeout=30, what="Caddy restarted")
        assert "subroute" in str(http.get(f"http://127.0.0.1:{internal}/id/i-{instance_id}", timeout=5).json())
    finally:
        output = _stop_up(up, installation)
    assert up.returncode == 0, output
    assert "proxy exited with code -9" in output and "proxy restarted" in output, output
