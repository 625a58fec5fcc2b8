"""The dashboard's Webhooks pages: register (secret shown once), refusals shown on the form,
the delivery log with replay, roles, and another team's endpoint answering 404."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from tenantry.accounts.models import Role
from tenantry.events.services import emit
from tenantry.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.dashboard.helpers import make_user, signed_in
from tests.webhooks.helpers import allow_private
from tests.webhooks.receiver import Receiver


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_register_log_replay_and_scoping(transactional_db, settings, receiver):
    owner = make_user("owner@example.com")
    team = owner.memberships.get().team
    browser = signed_in(owner)
    url = reverse("dashboard:webhooks", args=[team.slug])
    refused = browser.post(url, {"url": "http://127.0.0.1:9/hook", "event_types": "*"}).content.decode()
    assert "private or reserved address" in refused and not WebhookEndpoint.objects.exists()
    allow_private(settings)
    page = browser.post(url, {"url": receiver.url, "event_types": "instance.*, payment.failed",
                              "description": "CRM"}).content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["instance.*", "payment.failed"]
    receiver.secret = page.split('id="new-secret">', 1)[1].split("<", 1)[0]
    assert receiver.secret.startswith("whsec_")
    assert receiver.secret not in browser.get(url).content.decode()  # shown once

    emit("instance.ready", team=team, data={"instance_id": str(uuid.uuid4()), "slug": "demo", "app": "hello",
                                            "status": "running", "url": "http://demo.localhost"})
    assert len(receiver.accepted()) == 1
    detail = browser.get(reverse("dashboard:webhook_endpoint", args=[team.slug, endpoint.pk])).content.decode()
    assert "instance.ready" in detail and "HTTP 200" in detail
    delivery = WebhookDelivery.objects.get()
    replay_url = reverse("dashboard:webhook_delivery_replay", args=[team.slug, delivery.pk])
    assert browser.post(replay_url).status_code == 302
    assert len(receiver.accepted()) == 2

    # A member of the team does not manage its integrations; another team sees nothing.
    member = signed_in(make_user("member@example.com", team=team, role=Role.MEMBER))
    assert member.get(url).status_code == 404
    stranger = make_user("outsider@example.com")
    outsider = signed_in(stranger)
    own_slug = stranger.memberships.get().team.slug
    assert outsider.get(reverse("dashboard:webhook_endpoint", args=[team.slug, endpoint.pk])).status_code == 404
    # Through the outsider's own team, the endpoint's id finds nothing either.
    assert outsider.get(reverse("dashboard:webhook_endpoint", args=[own_slug, endpoint.pk])).status_code == 404
    assert outsider.post(reverse("dashboard:webhook_delivery_replay", args=[own_slug, delivery.pk])).status_code == 404
    assert outsider.post(replay_url).status_code == 404
    assert outsider.post(reverse("dashboard:webhook_endpoint_action",
                                 args=[team.slug, endpoint.pk, "delete"])).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()

    # Disable, then delete.
    action = reverse("dashboard:webhook_endpoint_action", args=[team.slug, endpoint.pk, "disable"])
    browser.post(action)
    assert not WebhookEndpoint.objects.get().enabled
    browser.post(reverse("dashboard:webhook_endpoint_action", args=[team.slug, endpoint.pk, "delete"]))
    assert not WebhookEndpoint.objects.exists()
