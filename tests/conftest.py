from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def wait_for(predicate: Callable[[], Any], *, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - environment problem, say how to fix it
        pytest.fail(f"Docker is not reachable ({exc}); run scripts/ensure-docker.sh (make test does)")
    subprocess.run([str(ROOT / "scripts/build-hello-image.sh")], check=True, capture_output=True)
    yield client
    _remove_installation_resources(client)
    client.close()


def _remove_installation_resources(client: docker.DockerClient) -> None:
    from tenantry.runtime.backends.docker import DockerRuntime

    runtime = DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"])
    runtime.remove_resources(runtime.list_managed())
    runtime.close()


def installation_resources(client: docker.DockerClient, instance_id: str | None = None) -> list[str]:
    labels = [f"tenantry.installation={settings.TENANTRY['INSTALLATION_ID']}"]
    if instance_id:
        labels.append(f"tenantry.instance={instance_id}")
    flt = {"label": labels}
    return ([f"container:{c.name}" for c in client.containers.list(all=True, filters=flt)]
            + [f"network:{n.name}" for n in client.networks.list(filters=flt)]
            + [f"volume:{v.name}" for v in client.volumes.list(filters=flt)])


def shared_database_url() -> str:
    """The URL of the test database, for subprocesses (worker, CLI) that must share it."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Proxy:
    """The real Traefik of the test run."""

    def __init__(self, port: int, internal_port: int, directory: Path):
        self.port = port
        self.internal_port = internal_port
        self.directory = directory
        self.edge_url = ""  # the edge listener behind it (set by the `edge` fixture)
        self.process: Any = None  # the running Traefik (subprocess.Popen), set by the fixture
        self.session = requests.Session()
        self.session.trust_env = False

    def get(self, host: str, path: str = "/", **kwargs: Any) -> requests.Response:
        return self.request("GET", host, path, **kwargs)

    def restart(self) -> None:  # set by the `traefik` fixture
        raise NotImplementedError

    def request(self, method: str, host: str, path: str = "/", **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), "Host": host}
        return self.session.request(method, f"http://127.0.0.1:{self.port}{path}", headers=headers,
                                    timeout=kwargs.pop("timeout", 5), allow_redirects=False, **kwargs)

    def wait_until(self, host: str, check: Callable[[requests.Response], bool], *, path: str = "/",
                   timeout: float = 10, what: str = "an answer", browser: bool = False) -> requests.Response:
        """Poll until `check(response)` holds; return that response (a 503 is falsy in requests,
        so it is wrapped in a list while polling). `browser`: ask for a page as a browser does."""
        headers = {"Accept": BROWSER_ACCEPT} if browser else {}

        def attempt():
            try:
                response = self.get(host, path, headers=headers)
            except requests.RequestException:
                return None
            return [response] if check(response) else None

        return wait_for(attempt, timeout=timeout, interval=0.05, what=f"{what} at {host}{path}")[0]

    def wait_for_body(self, host: str, text: str, *, timeout: float = 10, path: str = "/") -> requests.Response:
        return self.wait_until(host, lambda r: text in r.text, path=path, timeout=timeout, what=repr(text))


@pytest.fixture(scope="session")
def traefik() -> Iterator[Proxy]:
    from tenantry.core.management.commands.up import traefik_binary, write_traefik_static_config

    static = write_traefik_static_config()
    directory = static.parent
    log = open(directory / "traefik.stdout", "w")  # noqa: SIM115
    conf = settings.TENANTRY
    proxy = Proxy(conf["PROXY_PORT"], conf["PROXY_INTERNAL_PORT"], directory)

    def pinged() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{proxy.internal_port}/ping", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start() -> None:
        proxy.process = subprocess.Popen([traefik_binary(), f"--configFile={static}"], stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_for(pinged, timeout=20, what="Traefik to answer /ping")

    def restart() -> None:
        """Stop and start the proxy (its metrics counters start again from zero)."""
        proxy.process.terminate()
        proxy.process.wait(timeout=10)
        start()

    start()
    proxy.restart = restart  # type: ignore[method-assign]
    yield proxy
    proxy.process.terminate()
    proxy.process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def edge_listener() -> Iterator[str]:
    """The edge (tenantry.edge.app, as `tenantry edge` runs it) served by uvicorn in a thread of
    the test process, like `live_server`: it reads the test database and follows this process's
    queue mode (in-process, or the real queue under `queued`). Yields its URL."""
    import socket
    import threading

    import uvicorn

    from tenantry.edge.app import EdgeApp

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(EdgeApp(), lifespan="off", access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="edge")
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the edge listener")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture()
def edge(live_server, traefik, edge_listener, settings) -> Proxy:
    """Traefik whose edge service is the test run's edge listener (`edge.edge_url`); the live
    control plane runs too (`live_server`)."""
    from tenantry.routing.registry import routing

    settings.TENANTRY = {**settings.TENANTRY, "EDGE_URL": edge_listener}
    routing().ensure_base()  # type: ignore[attr-defined]
    routing().sync([])  # start from no routes, whatever an earlier test left
    base = yaml.safe_load((traefik.directory / "dynamic" / "_tenantry.yml").read_text())
    assert base["http"]["services"]["tenantry-edge"]["loadBalancer"]["servers"][0]["url"] == edge_listener
    traefik.edge_url = edge_listener
    return traefik


@pytest.fixture()
def platform(transactional_db, docker_client, edge):
    """Everything an end-to-end test needs: database, Docker, Traefik, the edge."""
    from tenantry.core.backends import reset_backends

    reset_backends()
    yield edge
    reset_backends()
    # The database is emptied after each test: remove what the test ran, and its routes, too.
    _remove_installation_resources(docker_client)
    from tenantry.routing.registry import routing

    routing().sync([])


@pytest.fixture(scope="session", autouse=True)
def _no_lingering_database_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end the sessions that live-server threads and worker
    subprocesses may have left open; otherwise PostgreSQL refuses to drop it."""
    yield
    from django.db import connection, connections

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        connections.close_all()


@pytest.fixture(autouse=True)
def _fresh_catalog():
    from tenantry.catalog.registry import reload_catalog

    reload_catalog()
    yield
    reload_catalog()


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counts():
    """On SQLite the API's rate-limit counts live in a file beside the test database
    (tenantry/api/ratelimit.py), which no test's rollback empties."""
    yield
    from tenantry.api.ratelimit import forget_sqlite_counts

    forget_sqlite_counts()


def start_worker(log_path: Path) -> subprocess.Popen:
    """A real worker process on the test database and the real (file or Redis) queue."""
    import sys

    env = {**os.environ, "DATABASE_URL": shared_database_url(), "TENANTRY_HUEY_IMMEDIATE": "0",
           "TENANTRY_EDGE_URL": settings.TENANTRY["EDGE_URL"]}
    log = open(log_path, "a")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "tenantry.cli", "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture()
def queued():
    """Send tasks to the real queue instead of running them in-process."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = False
    HUEY.flush()
    yield HUEY
    HUEY.flush()
    HUEY.immediate = True


def stop_worker(process: subprocess.Popen) -> None:
    """SIGTERM (Huey finishes its running tasks), SIGKILL if it does not end in 20 s."""
    import signal

    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture()
def worker(platform, queued, output_dir, request) -> Iterator[subprocess.Popen]:
    """A real worker process (`tenantry worker`) on the test database and the real queue (SQLite
    file, or Redis when REDIS_URL is set): what the test queues runs there, as in a deployment,
    not in Huey's immediate mode. Its output: test-output/worker-<test>.log."""
    process = start_worker(output_dir / f"worker-{request.node.name}.log")
    yield process
    stop_worker(process)


def ran_in(process: subprocess.Popen, operation: Any) -> bool:
    """Whether that worker process claimed the operation last (its worker id names the pid)."""
    import socket

    return operation.worker.startswith(f"{socket.gethostname()}:{process.pid}:")


class Mailbox:
    """Messages received by a real SMTP server (aiosmtpd) on 127.0.0.1."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m["To"]]

    def wait_for(self, address: str, *, count: int = 1, timeout: float = 10) -> Any:
        return wait_for(lambda: len(self.to(address)) >= count and self.to(address)[count - 1], timeout=timeout,
                        what=f"mail #{count} to {address}")

    @staticmethod
    def text(message: Any) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    @staticmethod
    def html(message: Any) -> str:
        return message.get_body(preferencelist=("html",)).get_content()

    @staticmethod
    def link(message: Any, contains: str) -> str:
        import re

        for url in re.findall(r"https?://[^\s<>\"]+", Mailbox.text(message)):
            if contains in url:
                return url
        raise AssertionError(f"no link with {contains!r} in {Mailbox.text(message)!r}")


@pytest.fixture()
def mailbox(settings) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    from tests.testenv import free_port

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


def pytest_itemcollected(item: Any) -> None:
    """Tests that drive Chromium are marked `browser`: Chromium fails its requests in flight
    (ERR_NETWORK_CHANGED) whenever the host's interfaces change, as they do each time a Docker
    network is created, so scripts/test.sh runs them while no other pass creates networks."""
    if "browser_page" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.browser)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests marked `postgres` run in the PostgreSQL pass only (deselected, not skipped, on SQLite)."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_report_header(config: Any) -> list[str]:
    return [f"tenantry: data dir {os.environ.get('TENANTRY_DATA_DIR')}, database "
            f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"]
