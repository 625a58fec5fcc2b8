"""Deliveries through a real worker process and the real queue: a receiver that is down for a
while still gets every event, in order, each signed; retries back off as configured."""

from __future__ import annotations

import itertools

import pytest

from tenantry.events.services import emit
from tenantry.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from tenantry.webhooks.services import endpoint_create
from tests.conftest import start_worker, stop_worker, wait_for
from tests.dashboard.helpers import make_user
from tests.webhooks.helpers import allow_private
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.slow]


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_receiver_down_for_a_while_gets_everything_in_order(transactional_db, queued, output_dir, settings,
                                                            monkeypatch, receiver, request):
    monkeypatch.setenv("TENANTRY_WEBHOOKS_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("TENANTRY_WEBHOOKS_RETRY_SCHEDULE", "0.5,1")
    allow_private(settings)
    team = make_user("owner@example.com").memberships.get().team
    _, secret = endpoint_create(team=team, url=receiver.url, event_types=["instance.*", "operation.*"],
                                       actor="test")
    receiver.secret = secret
    receiver.refuse_next = 4  # down for its first four requests, however fast the worker starts
    worker = start_worker(output_dir / f"worker-{request.node.name}.log")
    try:
        slugs = [f"app{i}" for i in range(6)]
        for slug in slugs:
            emit("instance.ready", team=team, data={"instance_id": slug, "slug": slug, "app": "hello",
                                                    "status": "running", "url": f"http://{slug}.localhost"})
        wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 6,
                 timeout=60, interval=0.2, what="all six deliveries")
    finally:
        stop_worker(worker)
    accepted = receiver.accepted()
    # Order per endpoint: nothing after the first event was sent while the first one failed.
    during_outage = [r for r in receiver.received if r.verified][: len(receiver.received) - 6]
    assert {r.json["data"]["slug"] for r in during_outage} == {"app0"}
    delivered = [r.json["data"]["slug"] for r in accepted[-6:]]
    assert delivered == slugs
    assert all(r.verified for r in receiver.received)  # every attempt was signed
    first = WebhookDelivery.objects.order_by("id").first()
    assert first.attempts == 5
    attempts = list(WebhookAttempt.objects.filter(delivery=first).order_by("number"))
    assert [a.response_status for a in attempts] == [503, 503, 503, 503, 200]
    # Backing off as configured: 0.5 s, then 1 s (the last delay repeats).
    gaps = [(b.sent_at - a.sent_at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.5 and all(gap >= 1 for gap in gaps[1:]), gaps
    assert all(d.attempts == 1 for d in WebhookDelivery.objects.exclude(pk=first.pk))
