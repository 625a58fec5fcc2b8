"""The edge (tenantry.edge) on real Docker and a real Traefik: it answers only what the proxy
forwarded for that instance's own host, keeps the control plane's cookies away from tenant apps,
caps and streams what it relays, and bounds what it holds."""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.instances import services
from tenantry.instances.models import Status
from tests.conftest import start_worker, wait_for
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

CREDENTIAL = "X-Tenantry-Edge-Key"


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _dashboard_cookies(email: str) -> dict[str, str]:
    """A real signed-in session of the live control plane, plus the other cookies it sets."""
    client = signed_in(make_user(email))
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": "c" * 32, "django_language": "fr"}


def _hibernated(slug: str, app: str = "echohello"):
    instance, operation = create(slug, app=app)
    assert instance.status == Status.RUNNING, operation.error_message
    services.instance_hibernate(instance=instance, actor="test")
    assert fresh(instance).status == Status.HIBERNATED
    return instance


def _echoed(text: str, name: str) -> str | None:
    """A line `NAME=value` the echo app printed, or None."""
    found = re.search(rf"^{name}=(.*)$", text, re.MULTILINE)
    return found.group(1) if found else None


def test_scripted_attack_tenant_html_never_runs_on_the_dashboard_and_no_control_plane_cookie_leaves(
        platform, live_server, settings):
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": live_server.url}
    dashboard = _session()
    cookies = _dashboard_cookies("victim@example.com")
    # the session is real: the dashboard knows it
    assert dashboard.get(f"{live_server.url}/account/", cookies=cookies, allow_redirects=False).status_code == 200

    instance, _ = create("mallory", app="echohello")
    served = platform.wait_until(instance.host, lambda r: r.status_code == 200, path="/cgi-bin/hook")
    assert "<script>" in served.text  # the tenant's app really answers hostile HTML

    # 1. The attack: the tenant's app reached through the dashboard's own host (the live control
    #    plane), with a visitor's dashboard session, running or hibernated.
    for attempt in range(2):
        for method in ("GET", "POST"):
            answer = dashboard.request(method, f"{live_server.url}/_edge/{instance.id}/cgi-bin/hook",
                                       cookies=cookies, data="steal", allow_redirects=False, timeout=10)
            assert answer.status_code == 404, (attempt, method, answer.status_code)
            assert "<script>" not in answer.text and "HTTP_COOKIE" not in answer.text
            assert "planted" not in answer.headers.get("Set-Cookie", "")
        if attempt == 0:
            services.instance_hibernate(instance=instance, actor="test")
            assert fresh(instance).status == Status.HIBERNATED
    assert fresh(instance).status == Status.HIBERNATED  # nothing on the dashboard's host woke it

    # 2. Through the proxy on the instance's own host, where the edge holds a webhook and relays
    #    it: the app gets the visitor's own cookies and credentials, never the control plane's.
    sent_cookies = "; ".join(f"{k}={v}" for k, v in cookies.items()) + "; app_session=mine"
    held = platform.request("POST", instance.host, "/cgi-bin/hook", data="webhook-1", timeout=60,
                            headers={"Cookie": sent_cookies, "Authorization": "Bearer tenant-token",
                                     CREDENTIAL: "forged-by-visitor"})
    assert held.status_code == 200 and held.headers["X-Tenantry-State"] == "woken", held.text
    assert _echoed(held.text, "BODY") == "webhook-1"
    assert _echoed(held.text, "HTTP_COOKIE") == "app_session=mine"
    for value in cookies.values():
        assert value not in held.text
    assert _echoed(held.text, "HTTP_AUTHORIZATION") == "Bearer tenant-token"
    # the proxy's credential replaced the forged one, and is not passed on to the app
    assert _echoed(held.text, "HTTP_X_TENANTRY_EDGE_KEY") is None
    assert settings.TENANTRY["EDGE_SECRET"] not in held.text
    # the app's cookie for its own host passes; the one for a domain covering the dashboard does not
    assert held.raw.headers.getlist("Set-Cookie") == ["app_session=kept; Path=/; HttpOnly"]
    assert fresh(instance).status == Status.RUNNING


def test_edge_answers_only_the_proxy_for_the_instance_own_host(platform, settings):
    ann, _ = create("ann-site")
    bob, _ = create("bob-site")
    services.instance_stop(instance=ann, actor="test")
    assert fresh(ann).status == Status.STOPPED
    secret = settings.TENANTRY["EDGE_SECRET"]
    direct = _session()
    url = f"{platform.edge_url}/_edge/{ann.id}/some/page"

    def ask(**headers: str) -> requests.Response:
        return direct.get(url, headers=headers, timeout=10)

    control = ask(Host=f"{ann.host}:8880", **{CREDENTIAL: secret})
    assert control.status_code == 503 and control.headers["X-Tenantry-State"] == "stopped"

    assert ask(Host=ann.host).status_code == 404  # no credential: not from the proxy
    assert ask(Host=ann.host, **{CREDENTIAL: secret[:-1] + "x"}).status_code == 404
    assert ask(Host=ann.host, **{CREDENTIAL: ""}).status_code == 404
    for host in (bob.host, "127.0.0.1:8000", "localhost", f"x.{ann.host}", "evil.example"):
        refused = ask(Host=host, **{CREDENTIAL: secret})
        assert refused.status_code == 404 and "ann-site" not in refused.text, host
    # the dashboard's own host, even if an instance were named after it
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": f"http://{ann.host}:8000"}
    assert ask(Host=ann.host, **{CREDENTIAL: secret}).status_code == 404
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": "http://127.0.0.1:8000"}

    # Through the proxy it answers, whatever credential a visitor sends along.
    page = platform.get(ann.host, "/some/page", headers={CREDENTIAL: "forged"})
    assert page.status_code == 503 and page.headers["X-Tenantry-State"] == "stopped"
    # The credential sits only in the proxy's base file, readable by its owner alone.
    base = platform.directory / "dynamic" / "_tenantry.yml"
    assert secret in base.read_text() and stat.S_IMODE(os.stat(base).st_mode) == 0o600
    from tenantry.routing.backends.traefik_files import shard_name

    route = (platform.directory / "dynamic" / shard_name(str(ann.id))).read_text()
    assert secret not in route and "tenantry-edge-credential" in route


def test_body_over_the_cap_is_refused_and_the_answer_is_streamed(platform, settings):
    cap = 64 * 1024
    settings.TENANTRY = {**settings.TENANTRY, "EDGE_MAX_BODY_BYTES": cap}
    instance = _hibernated("streamy")

    # Streamed: the app writes a first part, waits 2 s, writes the rest; the visitor gets the
    # first part while the app is still writing.
    session = platform.session
    with session.get(f"http://127.0.0.1:{platform.port}/cgi-bin/slow", headers={"Host": instance.host},
                     stream=True, timeout=60) as answer:
        assert answer.status_code == 200 and answer.headers["X-Tenantry-State"] == "woken"
        arrivals: dict[str, float] = {}
        seen = b""
        for chunk in answer.iter_content(chunk_size=None):
            seen += chunk
            for part in ("first part", "second part"):
                if part.encode() in seen and part not in arrivals:
                    arrivals[part] = time.monotonic()
    assert set(arrivals) == {"first part", "second part"}, seen
    assert arrivals["second part"] - arrivals["first part"] > 1.5

    services.instance_hibernate(instance=instance, actor="test")
    assert fresh(instance).status == Status.HIBERNATED
    # Over the cap with a declared length: refused at once, before anything wakes.
    declared = platform.request("POST", instance.host, "/cgi-bin/hook", data=b"x" * (cap + 1), timeout=30)
    assert declared.status_code == 413
    assert fresh(instance).status == Status.HIBERNATED
    # Over the cap without a declared length (chunked): refused once the cap is passed.
    chunked = platform.request("POST", instance.host, "/cgi-bin/hook", data=iter([b"y" * 30000] * 3), timeout=60)
    assert chunked.status_code == 413
    # Up to the cap: relayed whole (that request woke it: hibernate it again first).
    wait_for(lambda: fresh(instance).status == Status.RUNNING, timeout=30, what="the wake")
    services.instance_hibernate(instance=instance, actor="test")
    whole = platform.request("POST", instance.host, "/cgi-bin/hook", data=b"z" * cap, timeout=60)
    assert whole.status_code == 200 and whole.headers["X-Tenantry-State"] == "woken", whole.text[:200]
    assert _echoed(whole.text, "BODY_LENGTH") == str(cap)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


@pytest.mark.slow
def test_fifty_webhooks_to_a_hibernated_instance_are_bounded_while_dashboard_and_api_answer(
        platform, live_server, queued, settings, output_dir):
    per_instance = settings.TENANTRY["EDGE_HOLD_PER_INSTANCE"]
    worker = start_worker(output_dir / "edge-burst-worker.log")
    try:
        instance, _ = create("bursty", app="echohello")
        wait_for(lambda: fresh(instance).status == Status.RUNNING, timeout=90, what="the worker to provision")
        services.instance_hibernate(instance=instance, actor="test")
        wait_for(lambda: fresh(instance).status == Status.HIBERNATED, timeout=60, what="the worker to hibernate")

        cookies = _dashboard_cookies("watcher@example.com")
        token = api_key_create(team=operator_team(), name="burst").plaintext
        control_plane = {"dashboard": (f"{live_server.url}/account/", {"cookies": cookies}),
                         "api": (f"{live_server.url}/api/v1/instances",
                                 {"headers": {"Authorization": f"Bearer {token}"}})}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in control_plane}  # (sent at, seconds)
        failures: list[str] = []
        done = threading.Event()

        warmed = {name: threading.Event() for name in control_plane}

        def keep_asking(name: str) -> None:
            url, kwargs = control_plane[name]
            session = _session()
            # Warm (the URLconf's first import, templates, connections) before measuring: run
            # alone, the first request took longer than the burst, which then had no sample.
            session.get(url, timeout=60, **kwargs)
            warmed[name].set()
            while not done.is_set():
                started = time.monotonic()
                try:
                    status = session.get(url, timeout=10, allow_redirects=False, **kwargs).status_code
                except requests.RequestException as exc:
                    failures.append(f"{name}: {exc}")
                    continue
                samples[name].append((started, time.monotonic() - started))
                if status != 200:
                    failures.append(f"{name}: {status}")
                time.sleep(0.01)

        def webhook(number: int) -> requests.Response:
            return _session().post(f"http://127.0.0.1:{platform.port}/cgi-bin/hook", data=f"hook-{number}",
                                   headers={"Host": instance.host, "Content-Type": "text/plain"}, timeout=90)

        watchers = [threading.Thread(target=keep_asking, args=(name,)) for name in control_plane]
        for watcher in watchers:
            watcher.start()
        try:
            assert all(event.wait(timeout=60) for event in warmed.values()), "the control plane never answered"
            time.sleep(0.5)
            burst_started = time.monotonic()
            with ThreadPoolExecutor(50) as pool:
                answers = list(pool.map(webhook, range(50)))
            burst_ended = time.monotonic()
            time.sleep(0.3)
        finally:
            done.set()
            for watcher in watchers:
                watcher.join()

        held = [(n, a) for n, a in enumerate(answers) if a.status_code == 200]
        refused = [a for a in answers if a.status_code == 503]
        odd = [(a.status_code, a.headers.get("X-Tenantry-State"), a.text[:200]) for a in answers
               if a.status_code not in (200, 503)]
        assert len(held) + len(refused) == 50, odd  # every other answer: its status, state and body
        for number, answer in held:  # each held one got the app's answer to its own request
            assert _echoed(answer.text, "BODY") == f"hook-{number}"
        for answer in refused:
            assert answer.headers["X-Tenantry-State"] == "busy" and int(answer.headers["Retry-After"]) > 0
        woken = [a for _, a in held if a.headers.get("X-Tenantry-State") == "woken"]
        assert 1 <= len(woken) <= per_instance
        assert len(refused) >= 50 - 2 * per_instance
        assert fresh(instance).status == Status.RUNNING
        assert not failures, failures[:5]
        print(f"\nwebhooks: {len(woken)} held and answered by the app, {len(held) - len(woken)} straight to "
              f"the app, {len(refused)} refused with 503 + Retry-After, in {burst_ended - burst_started:.2f} s")
        for name, measured in samples.items():
            during = [seconds for sent, seconds in measured if burst_started <= sent <= burst_ended]
            assert len(during) >= 2, (name, measured)
            print(f"{name}: {len(during)} requests during the burst, p95 {_p95(during) * 1000:.0f} ms "
                  f"(all {len(measured)}: p95 {_p95([s for _, s in measured]) * 1000:.0f} ms)")

        # Deleted through the worker: the address stops answering as soon as the operation ends
        # (the step waits until the proxy dropped the route).
        services.instance_delete(instance=instance, actor="test")
        wait_for(lambda: fresh(instance).status == Status.DELETED, timeout=60, interval=0.01,
                 what="the worker to delete")
        assert platform.get(instance.host, "/cgi-bin/hook").status_code == 404
    finally:
        worker.terminate()
        worker.wait(timeout=15)
