"""Webhook endpoints over REST: registration rules, private addresses refused, team scoping,
the delivery log with request and response, replay."""

from __future__ import annotations

import pytest

from tenantry.events.services import emit
from tenantry.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.dashboard.helpers import make_user
from tests.webhooks.helpers import allow_private, api_client, post
from tests.webhooks.receiver import Receiver


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def team(transactional_db):
    return make_user("owner@example.com").memberships.get().team


PAYLOAD = {"instance_id": "00000000-0000-0000-0000-000000000001", "slug": "demo", "app": "hello",
           "status": "running", "url": "http://demo.localhost"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/x",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                                 "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x", "http://192.168.1.10/"])
def test_private_addresses_are_refused_without_the_operators_consent(team, url):
    response = post(api_client(team), "/webhooks/endpoints", {"url": url, "event_types": ["*"]})
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "webhook_url_private"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("url", "code"), [("ftp://example.com/x", "webhook_url_invalid"),
                                           ("http://user:pw@example.com/", "webhook_url_invalid"),
                                           ("http://no-such-host.invalid/", "webhook_url_invalid")])
def test_bad_urls(team, url, code):
    response = post(api_client(team), "/webhooks/endpoints", {"url": url, "event_types": ["*"]})
    assert (response.status_code, response.json()["code"]) == (422, code)


def test_event_types_are_checked(team, settings):
    allow_private(settings)
    client = api_client(team)
    response = post(client, "/webhooks/endpoints", {"url": "http://127.0.0.1:9/", "event_types": ["instance.nope"]})
    assert (response.status_code, response.json()["code"]) == (422, "webhook_event_type_unknown")
    response = post(client, "/webhooks/endpoints", {"url": "http://127.0.0.1:9/", "event_types": []})
    assert response.json()["code"] == "webhook_event_types_required"
    catalog = client.get("/api/v1/webhooks/event-types").json()["event_types"]
    assert catalog == sorted(catalog) and {"articles.paused", "backup.failed", "backup.succeeded"} <= set(catalog)


def test_delivery_refused_at_send_time_when_private_is_no_longer_allowed(team, settings, receiver):
    """DNS (or the operator's setting) can change after registration: every send checks again."""
    allow_private(settings)
    body = post(api_client(team), "/webhooks/endpoints", {"url": receiver.url, "event_types": ["*"]}).json()
    receiver.secret = body["secret"]
    allow_private(settings, False)
    emit("instance.ready", team=team, data=PAYLOAD)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_status is None and "private or reserved address" in attempt.error
    assert receiver.received == []


def test_signed_delivery_log_and_replay(team, settings, receiver):
    allow_private(settings)
    client = api_client(team)
    response = post(client, "/webhooks/endpoints", {"url": receiver.url, "event_types": ["instance.*"],
                                                     "description": "CRM"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    endpoint_id = created["endpoint"]["id"]
    assert "secret" not in client.get(f"/api/v1/webhooks/endpoints/{endpoint_id}").json()

    emit("instance.ready", team=team, data=PAYLOAD)
    emit("invoice.paid", team=team, data={"invoice_id": "i", "number": "INV-000001", "status": "paid",
                                          "total_minor": 100, "currency": "EUR"})  # not subscribed
    [got] = receiver.accepted()
    assert got.json["type"] == "instance.ready" and got.json["data"]["slug"] == "demo"
    assert got.headers["webhook-id"] == got.json["id"] and got.json["id"].startswith("msg_")

    log = client.get(f"/api/v1/webhooks/deliveries?endpoint_id={endpoint_id}").json()
    assert log["count"] == 1
    [delivery] = log["items"]
    assert delivery["status"] == "succeeded" and delivery["event_type"] == "instance.ready"
    [attempt] = delivery["attempt_log"]
    assert attempt["response_status"] == 200
    assert attempt["request_headers"]["webhook-signature"].startswith("v1,")
    assert attempt["request_body"] == got.body.decode()
    assert 0 < len(attempt["response_body"]) <= 4096  # the receiver answered 10 kB: truncated

    replay = post(client, f"/webhooks/deliveries/{delivery['id']}/replay")
    assert replay.status_code == 202, replay.content
    assert replay.json()["replay_of"] == delivery["id"]
    assert len(receiver.accepted()) == 2
    first, again = receiver.accepted()
    assert again.headers["webhook-id"] == first.headers["webhook-id"]  # the same message, sent again
    assert client.get(f"/api/v1/webhooks/deliveries/{replay.json()['id']}").json()["status"] == "succeeded"


def test_another_teams_endpoint_and_deliveries_are_404(team, settings, receiver):
    allow_private(settings)
    created = post(api_client(team), "/webhooks/endpoints", {"url": receiver.url, "event_types": ["*"]}).json()
    receiver.secret = created["secret"]
    emit("instance.ready", team=team, data=PAYLOAD)
    delivery_id = WebhookDelivery.objects.get().pk
    other = api_client(make_user("other@example.com").memberships.get().team)
    endpoint_id = created["endpoint"]["id"]
    assert other.get(f"/api/v1/webhooks/endpoints/{endpoint_id}").status_code == 404
    assert other.patch(f"/api/v1/webhooks/endpoints/{endpoint_id}", {"enabled": False},
                       content_type="application/json").status_code == 404
    assert other.delete(f"/api/v1/webhooks/endpoints/{endpoint_id}").status_code == 404
    assert other.get(f"/api/v1/webhooks/deliveries/{delivery_id}").status_code == 404
    assert post(other, f"/webhooks/deliveries/{delivery_id}/replay").status_code == 404
    assert other.get("/api/v1/webhooks/endpoints").json()["count"] == 0
    assert other.get("/api/v1/webhooks/deliveries").json()["count"] == 0
    assert WebhookEndpoint.objects.get().enabled


def test_read_only_key_reads_but_cannot_manage(team, settings):
    allow_private(settings)
    reader = api_client(team, read_only=True)
    assert reader.get("/api/v1/webhooks/endpoints").status_code == 200
    response = post(reader, "/webhooks/endpoints", {"url": "http://127.0.0.1:9/", "event_types": ["*"]})
    assert response.status_code == 403


def test_persistent_failure_disables_the_endpoint_and_tells_the_owner(team, settings, receiver, mailbox):
    allow_private(settings)
    settings.TENANTRY_WEBHOOKS = {**settings.TENANTRY_WEBHOOKS, "RETRY_FOR_SECONDS": 0}
    client = api_client(team)
    created = post(client, "/webhooks/endpoints", {"url": receiver.url, "event_types": ["*"]}).json()
    receiver.secret = created["secret"]
    receiver.status = 500
    emit("instance.ready", team=team, data=PAYLOAD)
    endpoint = WebhookEndpoint.objects.get()
    assert not endpoint.enabled and "HTTP 500" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    message = mailbox.wait_for("owner@example.com")
    assert receiver.url in message["Subject"]
    assert "/webhooks/" in mailbox.text(message)
    owner = team.memberships.get().user
    assert owner.notifications.filter(event_type="webhook_endpoint.disabled").count() == 1
    # Events that come while it is disabled are not queued for it; enabling it sends again.
    emit("instance.ready", team=team, data=PAYLOAD)
    assert WebhookDelivery.objects.count() == 1
    receiver.status = 200
    response = client.patch(f"/api/v1/webhooks/endpoints/{endpoint.pk}", {"enabled": True},
                            content_type="application/json")
    assert response.json()["enabled"] is True
    failed = WebhookDelivery.objects.get()
    assert post(client, f"/webhooks/deliveries/{failed.pk}/replay").status_code == 202
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 1
