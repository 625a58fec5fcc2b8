"""The production layout end to end, as an operator runs it (deploy/systemd): PostgreSQL, Redis,
`tenantry serve` (gunicorn with two workers, two Huey workers, the scheduler, the edge) and
Traefik on TLS against Pebble. A customer's n8n is created through the API, answers at its https address (the chain
checked against Pebble's root only), runs its webhook over https, gets a custom domain verified
through DNS and answers there over https; then one web process and one worker are killed: the
service goes on answering and a new operation completes."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests

from tests.conftest import wait_for
from tests.ops.stack import ProductionStack
from tests.routing.acme import https_get, https_request, start_acme_world
from tests.testenv import free_port

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow, pytest.mark.n8n,
              # its own database on the PostgreSQL server: run once, in the PostgreSQL pass
              pytest.mark.postgres, pytest.mark.timeout(900)]

BASE = "apps.tenantry.test"


@pytest.fixture()
def stack(tmp_path, docker_client, output_dir):
    http_port = free_port()
    world = start_acme_world(tmp_path / "pebble", http_port=http_port)
    production = ProductionStack(directory=output_dir / f"stack-{os.getpid()}", world=world, base_domain=BASE)
    production.directory.mkdir(exist_ok=True)
    production.configure(http_port=http_port)
    try:
        production.prepare()
        production.start_all(web_workers=2, workers=2)
        yield production
    finally:
        production.stop()
        world.stop()


def _https(stack: ProductionStack, host: str, text: str, timeout: float = 90):
    """GET https://host/ until it answers 200 with `text`, trusting Pebble's root only."""
    root = stack.world.root_pem()

    def attempt():
        try:
            answer = https_get(stack.https_port, host, root, timeout=10)
        except (OSError, ValueError):
            return None  # Traefik's default certificate until the real one arrives
        return answer if answer[0] == 200 and text in answer[2] else None

    return wait_for(attempt, timeout=timeout, interval=0.5, what=f"{text!r} over https at {host}")


def _settled(http: requests.Session, stack: ProductionStack, ref: str, timeout: float) -> dict:
    def done():
        body = http.get(f"{stack.web}/api/v1/instances/{ref}", timeout=10).json()
        return body if body["status"] in ("running", "failed") else None

    return wait_for(done, timeout=timeout, interval=1, what=f"instance {ref} to settle")


def test_production_stack_serves_n8n_over_https_and_survives_a_killed_web_and_worker(stack):
    http = requests.Session()
    http.trust_env = False
    http.headers["Authorization"] = f"Bearer {stack.token()}"
    root = stack.world.root_pem()

    created = http.post(f"{stack.web}/api/v1/instances", json={"slug": "prodflows", "app": "n8n"}, timeout=30)
    assert created.status_code == 202, created.text
    instance = _settled(http, stack, "prodflows", timeout=420)
    assert instance["status"] == "running", http.get(f"{stack.web}/api/v1/instances/prodflows/operations",
                                                     timeout=10).text
    host = f"prodflows.{BASE}"
    assert instance["url"] == f"https://{host}:{stack.https_port}"

    # The instance's own address: the wildcard certificate (DNS-01), valid for Pebble's root only.
    status, headers, _, peer = _https(stack, host, "n8n")
    assert ("DNS", f"*.{BASE}") in peer["subjectAltName"]
    assert headers["strict-transport-security"] == "max-age=600"
    # Plain http redirects to https.
    plain = requests.get(f"http://127.0.0.1:{stack.http_port}/", headers={"Host": host}, allow_redirects=False,
                         timeout=10)
    assert plain.status_code in (301, 302, 307, 308) and plain.headers["Location"].startswith(f"https://{host}")
    # Its webhook, over https.
    status, _, body, _ = https_request(stack.https_port, host, root, "POST", "/webhook/echo",
                                       json_body={"message": "in production"}, timeout=60)
    assert status == 200 and json.loads(body) == {"echo": "in production"}

    # A custom domain, through the API: the records to create, then verification by DNS.
    added = http.post(f"{stack.web}/api/v1/instances/prodflows/domains", json={"domain": "flows.example.com"},
                      timeout=30)
    assert added.status_code == 201, added.text
    records = {record["type"]: record for record in added.json()["records"]}
    assert records["CNAME"]["value"].rstrip(".") == host
    stack.world.set_cname("flows.example.com", host)
    stack.world.set_txt(records["TXT"]["name"].rstrip(".") + ".", records["TXT"]["value"])
    verified = http.post(f"{stack.web}/api/v1/instances/prodflows/domains/flows.example.com/verify", timeout=30)
    assert verified.status_code == 200 and verified.json()["status"] == "verified", verified.text
    status, _, _, peer = _https(stack, "flows.example.com", "n8n")
    assert peer["subjectAltName"] == (("DNS", "flows.example.com"),)  # its own certificate, by HTTP-01
    status, _, body, _ = https_request(stack.https_port, "flows.example.com", root, "POST", "/webhook/echo",
                                       json_body={"message": "on my domain"}, timeout=60)
    assert status == 200 and json.loads(body) == {"echo": "on my domain"}

    # The layout: two web processes under gunicorn's arbiter, two task workers, the scheduler, the edge.
    roles = stack.roles()
    assert len(roles["tn-web"]) == 3 and len(stack.web_workers()) == 2
    assert all(len(roles[name]) == 1 for name in ("tn-worker-1", "tn-worker-2", "tn-scheduler", "tn-edge")), roles

    # Kill one web process and one task worker, without warning.
    killed_web = stack.web_workers()[0]
    killed_worker = roles["tn-worker-1"][0]
    os.kill(killed_web, signal.SIGKILL)
    os.kill(killed_worker, signal.SIGKILL)
    # The service goes on answering: the API, and the instance at both its addresses.
    for _ in range(10):
        assert http.get(f"{stack.web}/api/v1/instances/prodflows", timeout=10).status_code == 200
        assert https_get(stack.https_port, host, root, timeout=10)[0] == 200
        assert https_get(stack.https_port, "flows.example.com", root, timeout=10)[0] == 200
        time.sleep(0.1)
    # gunicorn replaced its dead worker; the server forked a new task worker.
    wait_for(lambda: killed_web not in (now := stack.web_workers()) and len(now) == 2, timeout=60,
             what="gunicorn to replace its killed worker")
    wait_for(lambda: (now := stack.roles().get("tn-worker-1")) and killed_worker not in now, timeout=60,
             what="a new task worker")
    assert stack.roles()["tn-worker-2"] == roles["tn-worker-2"]  # the others never noticed
    assert stack.roles()["tn-edge"] == roles["tn-edge"] and stack.roles()["tn-scheduler"] == roles["tn-scheduler"]

    # New operations complete: a new instance, and a restart of the n8n.
    created = http.post(f"{stack.web}/api/v1/instances", json={"slug": "afterkill", "app": "hello"}, timeout=30)
    assert created.status_code == 202, created.text
    assert _settled(http, stack, "afterkill", timeout=180)["status"] == "running"
    _https(stack, f"afterkill.{BASE}", "Hello from afterkill")
    restarted = http.post(f"{stack.web}/api/v1/instances/prodflows/restart", timeout=30)
    assert restarted.status_code == 202, restarted.text
    operation = restarted.json()["id"]

    def finished():
        body = http.get(f"{stack.web}/api/v1/operations/{operation}", timeout=10).json()
        return body if body["status"] in ("succeeded", "failed") else None

    assert wait_for(finished, timeout=300, interval=1, what="the restart")["status"] == "succeeded"
    status, _, body, _ = https_request(stack.https_port, "flows.example.com", root, "POST", "/webhook/echo",
                                       json_body={"message": "after the kill"}, timeout=60)
    assert status == 200 and json.loads(body) == {"echo": "after the kill"}
