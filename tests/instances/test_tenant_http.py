"""Calls from the control plane to tenant apps follow no redirect (issue 9, item 3).

A real container (tests/catalog/redirector.yaml) answers 302 to a listener this test runs on
the host's loopback, for each caller: an HTTP hook, the n8n backend's API calls, "run now"
through a webhook, and a readiness probe. The listener must receive nothing. What the app says
in an error is quoted redacted (Tenantry's key for it never appears) and cut short.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tenantry.automations.services import AppError, workflow_run_now, workflow_set_active, workflows_list
from tenantry.core.errors import NotFound
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import OperationStatus, Status
from tenantry.instances.probes import http_ready
from tenantry.instances.secrets import instance_secret_values
from tenantry.instances.tenant_http import tenant_session
from tenantry.runtime.backends.base import HealthProbe
from tenantry.runtime.registry import runtime_for
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]


@dataclass
class Listener:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture()
def loopback_listener():
    """An "admin port" on the host's loopback that no tenant may get the control plane to call."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            hits.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": [], "admin": "loopback only"}')

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _record

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Listener(url=f"http://127.0.0.1:{server.server_address[1]}", hits=hits)
    server.shutdown()
    server.server_close()


def test_a_hook_answered_with_a_redirect_fails_without_following_it(platform, loopback_listener):
    _, operation = create("hookjump", app="redirector",
                          inputs={"hook_path": f"jump?to={loopback_listener.url}/admin"})
    assert operation.status == OperationStatus.FAILED
    assert "answered HTTP 302" in operation.error_message, operation.error_message
    assert "not followed" in operation.error_message
    assert loopback_listener.hits == []


def test_an_app_error_quoted_in_a_step_is_redacted_then_cut(platform):
    instance, operation = create("hookleak", app="redirector", inputs={"hook_path": "secret"})
    key = instance_secret_values(instance)["api_key"]
    assert operation.status == OperationStatus.FAILED
    message = operation.error_message
    assert "answered HTTP 400" in message
    # The key sits at characters 485-517 of a 5,500-character answer: redacted before the cut,
    # so not even its first characters show.
    assert key[:12] not in message and "key *** refused" in message
    assert len(message) < 700 and "more characters)" in message
    step_logs = "".join(step.error + step.log for step in operation.steps.all())
    assert key[:12] not in step_logs


def test_n8n_backend_run_now_and_probes_never_follow_a_redirect(platform, loopback_listener):
    instance, operation = create("jumper", app="redirector")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    instance = fresh(instance)
    assert instance.status == Status.RUNNING
    deployment = build_deployment(instance)
    runtime = runtime_for(instance.server)
    # From now on every path but `/` and one workflow redirects to the loopback listener.
    result = runtime.exec(deployment, "web", ["sh", "-c", f"echo {loopback_listener.url} > /data/redirect_to"])
    assert result.exit_code == 0, result.output

    # The n8n backend's API calls (list workflows, run a workflow by hand).
    with pytest.raises(AppError) as listed:
        workflows_list(instance=instance)
    assert "n8n answered HTTP 302" in listed.value.message
    with pytest.raises(AppError):
        workflow_run_now(instance=instance, workflow_id="other", actor="test")

    # "Run now" on an active webhook workflow calls its webhook, which redirects: not followed.
    run = workflow_run_now(instance=instance, workflow_id="hooked", actor="test")
    assert run.how == "called its webhook (POST /webhook/go)"

    # A readiness probe of a path that redirects is simply not ready.
    ready, why = http_ready(deployment.container("web"), HealthProbe(http_path="/health", http_port=8080))
    assert not ready and why.endswith("HTTP 302")

    # A caller asking for redirects does not get them either.
    response = tenant_session().get(f"{deployment.upstream_url}/anything", allow_redirects=True, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{loopback_listener.url}/anything"

    assert loopback_listener.hits == []

    # The app's error quoting Tenantry's key for it: redacted in the API error, and cut.
    key = instance_secret_values(instance)["api_key"]
    with pytest.raises((AppError, NotFound)) as refused:
        workflow_set_active(instance=instance, workflow_id="secret", active=True, actor="test")
    assert key[:12] not in refused.value.message and "key *** refused" in refused.value.message
    assert len(refused.value.message) < 700


# Modules that call something other than a tenant app with plain `requests` (Traefik's own API and
# metrics, payment providers, Lago). Everything else must go through tenant_http.tenant_session().
NOT_TENANT_CALLS = ("tenantry/routing/", "tenantry/billing/", "tenantry/edge/", "tenantry/instances/tenant_http.py",
                    "tenantry/metering/collectors/traffic.py")


def test_calls_to_tenant_apps_go_through_the_one_tenant_session():
    root = Path(__file__).resolve().parents[2]
    direct = re.compile(r"\brequests\.(request|get|post|put|patch|delete|head|Session)\(")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted((root / "tenantry").rglob("*.py"))
        if not str(path.relative_to(root)).startswith(NOT_TENANT_CALLS)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert offenders == []


def test_a_tenant_answer_is_read_up_to_a_cap():
    """An app streaming an endless answer (no Content-Length) does not fill the control
    plane's memory: reading stops past MAX_BODY_BYTES."""
    from tenantry.instances.tenant_http import MAX_BODY_BYTES, TenantResponseTooLarge

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            chunk = b"x" * (1024 * 1024)
            try:
                for _ in range(MAX_BODY_BYTES // len(chunk) + 8):
                    self.wfile.write(chunk)
            except OSError:  # the client stopped reading, as it should
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(TenantResponseTooLarge):
            tenant_session().get(f"http://127.0.0.1:{server.server_address[1]}/", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
