"""JSON logs: each request logged once with its request id and team; lines logged while an
operation runs (in a real worker) carry its instance, team and operation; Huey's per-task INFO
lines stay out of the console."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.core.logging import JsonFormatter
from tenantry.instances.models import Operation
from tests.conftest import wait_for
from tests.instances.helpers import create


@pytest.fixture()
def request_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tenantry.request")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_each_request_is_logged_once_with_its_id_and_team(db, request_log):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=operator_team(), name='log').plaintext}")
    response = api.get("/api/v1/instances")
    assert response.status_code == 200
    generated = response["X-Request-Id"]
    assert len(generated) == 32
    kept = api.get("/api/v1/instances", HTTP_X_REQUEST_ID="traefik-abc-12345")
    assert kept["X-Request-Id"] == "traefik-abc-12345"
    forged = api.get("/api/v1/instances", HTTP_X_REQUEST_ID='x"\n{"level": "error"}')
    assert forged["X-Request-Id"] != 'x"\n{"level": "error"}' and len(forged["X-Request-Id"]) == 32
    Client().get("/healthz")  # polled by supervisors: not logged while it succeeds
    lines = request_log()
    assert [line["request_id"] for line in lines] == [generated, "traefik-abc-12345", forged["X-Request-Id"]]
    first = lines[0]
    assert first["event"] == "request" and first["method"] == "GET" and first["path"] == "/api/v1/instances"
    assert first["status"] == 200 and first["team"] == operator_team().slug and first["duration_ms"] >= 0
    assert first["level"] == "info" and "timestamp" in first


@pytest.mark.docker
@pytest.mark.traefik
def test_operation_lines_carry_instance_team_and_operation_and_huey_stays_quiet(worker, output_dir, request):
    instance, operation = create("logged")

    def done():
        operation.refresh_from_db()
        return operation.status in ("succeeded", "failed")

    wait_for(done, timeout=60, what="the provisioning")
    assert operation.status == Operation.objects.get(pk=operation.pk).status == "succeeded"
    log_path = output_dir / f"worker-{request.node.name}.log"

    def finished_line():
        for raw in log_path.read_text().splitlines():
            # The log file collects every run of this test: find this operation's line.
            if raw.startswith("{") and json.loads(raw).get("event") == "operation.succeeded" \
                    and json.loads(raw).get("operation") == str(operation.id):
                return json.loads(raw)
        return None

    line = wait_for(finished_line, timeout=10, what="the operation's last line")
    assert line["instance"] == "logged" and line["operation"] == str(operation.id)
    assert line["team"] == instance.team.slug and line["kind"] == "provision"
    text = log_path.read_text()
    assert "INFO:huey" not in text and "Executing tenantry" not in text, text[-2000:]
