"""The Python SDK (clients/python) against a live control plane: a real server process
(uvicorn on the ASGI app, sharing the test database), rate limited so the SDK meets 429s and
waits them out; a webhook receiver on 127.0.0.1 that checks every delivery with the SDK's
verification helper; pagination across pages; typed errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
from tenantry_client import (
    AuditEvent,
    NotFound,
    RateLimited,
    Tenantry,
    WebhookEndpoint,
    WebhookVerificationError,
    verify_webhook,
)

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.events.services import emit
from tests.conftest import shared_database_url, wait_for
from tests.dashboard.helpers import make_user
from tests.http_stub import BackgroundServer, QuietHandler
from tests.testenv import free_port
from tests.webhooks.helpers import allow_private

pytestmark = [pytest.mark.slow]
LIMIT, WINDOW = 4, 2


@pytest.fixture()
def control_plane(transactional_db, output_dir) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": shared_database_url(), "TENANTRY_HUEY_IMMEDIATE": "1",
           "TENANTRY_API_RATE_LIMIT_PER_MINUTE": str(LIMIT), "TENANTRY_API_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
           "TENANTRY_API_RATE_LIMIT_PER_IP_PER_MINUTE": "0", "TENANTRY_API_RATE_LIMIT_STORE": "database",
           "TENANTRY_WEBHOOKS_ALLOW_PRIVATE": "1"}
    log = open(output_dir / "sdk-control-plane.log", "w")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "tenantry.asgi:application", "--host", "127.0.0.1",
                                "--port", str(port), "--log-level", "warning"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None and pytest.fail("the control plane exited; see its log")

    try:
        wait_for(up, timeout=180, what="the control plane process")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture()
def team():
    return make_user("sdk@example.com").memberships.get().team


def test_sdk_waits_out_429s_and_succeeds(control_plane, team):
    key = api_key_create(team=team, name="sdk").plaintext
    raw = httpx.Client(base_url=control_plane, headers={"Authorization": f"Bearer {key}"})
    for _attempt in range(3):
        answers = [raw.get("/api/v1/teams") for _ in range(LIMIT + 1)]
        if [a.status_code for a in answers] == [200] * LIMIT + [429]:
            break
        # Fixed windows: on a slow machine a window's end can fall inside the burst (then the
        # fifth answer is a 200 of the next window). Wait that window out and burst again.
        threading.Event().wait(WINDOW + 0.5)
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    limited = answers[-1]
    assert limited.json()["code"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= WINDOW
    assert limited.headers["RateLimit-Limit"] == str(LIMIT) and limited.headers["RateLimit-Remaining"] == "0"
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        threading.Event().wait(seconds)

    with Tenantry(control_plane, key, sleep=sleep, max_retries=8) as client:
        teams = [client.teams.list() for _ in range(3 * LIMIT)]
    assert all(t[0].slug == team.slug for t in teams)
    assert client.retries_done >= 2 and waits and all(0 < w <= WINDOW for w in waits)
    # With no retries left the SDK raises a typed error carrying Retry-After.
    with Tenantry(control_plane, key, max_retries=0) as impatient, pytest.raises(RateLimited) as caught:
        for _ in range(LIMIT + 1):
            impatient.teams.list()
    assert caught.value.code == "rate_limited" and caught.value.retry_after is not None


class _Receiver:
    """Deliveries on 127.0.0.1, each checked with the SDK's helper."""

    def __init__(self) -> None:
        self.secret = ""
        self.verified: list[dict] = []
        self.rejected = 0
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify_webhook(secret=receiver.secret, headers=dict(self.headers.items()), body=body)
                except WebhookVerificationError:
                    receiver.rejected += 1
                    self._answer(400, {"error": "bad signature"})
                    return
                receiver.verified.append({"id": self.headers["webhook-id"], **json.loads(body)})
                self._answer(200, {"ok": True})

        self.server = BackgroundServer(Handler)
        self.url = self.server.url + "/hooks"


def test_webhook_deliveries_verified_with_the_sdk_helper_and_replayed(control_plane, team, settings):
    allow_private(settings)
    receiver = _Receiver()
    key = api_key_create(team=team, name="sdk").plaintext
    sent: list[httpx.Request] = []
    with Tenantry(control_plane, key, max_retries=8) as client:
        client._http.event_hooks["request"].append(sent.append)
        created = client.webhooks.create_endpoint(url=receiver.url, event_types=["instance.*"])
        assert isinstance(created.endpoint, WebhookEndpoint) and created.secret.startswith("whsec_")
        assert sent[-1].headers["Idempotency-Key"]  # creates carry one
        receiver.secret = created.secret
        for n, slug in enumerate(("alpha", "beta")):
            emit("instance.ready", team=team, data={"instance_id": f"i-{n}", "slug": slug, "status": "running",
                                                    "app": "hello", "url": f"http://{slug}.test"})
        wait_for(lambda: len(receiver.verified) == 2, timeout=30, what="two verified deliveries")
        assert [d["data"]["slug"] for d in receiver.verified] == ["alpha", "beta"] and receiver.rejected == 0
        deliveries = list(client.webhooks.deliveries())
        assert {d.status for d in deliveries} == {"succeeded"} and len(deliveries) == 2
        replay = client.webhooks.replay(deliveries[-1].id)
        assert replay.replay_of == deliveries[-1].id
        wait_for(lambda: len(receiver.verified) == 3, timeout=30, what="the replayed delivery")
        assert receiver.verified[2]["data"]["slug"] in ("alpha", "beta") and receiver.rejected == 0
        # A forged delivery fails the SDK's helper.
        with pytest.raises(WebhookVerificationError):
            verify_webhook(secret=created.secret, headers={"webhook-id": "x", "webhook-timestamp": "1",
                                                           "webhook-signature": "v1,AAAA"}, body=b"{}")
        # Typed errors, and the audit trail through pagination (page size 1: every page fetched).
        with pytest.raises(NotFound) as missing:
            client.instances.get("nope")
        assert missing.value.code == "instance_not_found"
        trail = list(client.audit.list(action="webhook_endpoint.", page_size=1))
        assert trail and all(isinstance(e, AuditEvent) and e.action.startswith("webhook_endpoint.") for e in trail)
        assert any(e.actor.startswith("api-key:") and e.user_agent.startswith("tenantry-client/") for e in trail)
    receiver.server.shutdown()
