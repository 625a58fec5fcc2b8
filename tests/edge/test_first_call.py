"""A new instance's address, called by machines (an API client, webhooks) while the app is being
set up: each call is held, then answered by the app itself. Neither a 503 "being set up" that the
caller would have to retry, nor a 502 from the proxy while the app boots (issue 15)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import start_worker, stop_worker
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


@pytest.mark.slow
def test_calls_made_while_the_app_is_set_up_are_answered_by_the_app(platform, queued, settings, output_dir):
    worker = start_worker(output_dir / "first-call-worker.log")
    try:
        # slowhello answers 4 s after its container started: long after the proxy could route to it.
        instance, _ = create("firstcaller", app="slowhello")
        # A person's browser gets the "being set up" page at once: the edge has the address.
        platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "starting",
                            timeout=60, browser=True, what="the edge's page")
        edge_reached = time.monotonic()

        def call(_: int) -> tuple[float, int, str, str]:
            sent = time.monotonic() - edge_reached
            try:
                answer = platform.get(instance.host, timeout=60)
            except requests.RequestException as exc:
                return sent, 0, "", repr(exc)
            return sent, answer.status_code, answer.headers.get("X-Tenantry-State", ""), answer.text

        # A new call every second for 16 s, each on its own connection: fewer held at once than
        # the edge holds per instance (beyond, it answers 503 busy, tested in test_edge) even if
        # a loaded machine stretches the 4 s boot to 8, and time left for calls after it.
        interval, count = 1.0, 16
        assert settings.TENANTRY["EDGE_HOLD_PER_INSTANCE"] > 8 / interval + 1
        with ThreadPoolExecutor(count) as pool:
            futures = []
            for number in range(count):
                futures.append(pool.submit(call, number))
                time.sleep(interval)
            calls = [future.result() for future in futures]
    finally:
        stop_worker(worker)

    outcomes = [(round(sent, 1), status, state) for sent, status, state, _ in calls]
    assert all(status == 200 and "Hello from firstcaller" in text for _, status, _, text in calls), outcomes
    held = [sent for sent, _, state, _ in calls if state == "woken"]
    direct = [sent for sent, _, state, _ in calls if state != "woken"]
    assert held[0] == calls[0][0], outcomes  # from the first call on, held while the app booted
    assert max(held) - min(held) > 2.0, outcomes
    assert direct and min(direct) > max(held), outcomes  # then the proxy routed to the app itself
