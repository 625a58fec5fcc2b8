"""The notification centre: unread count in the dashboard header, reading and marking read,
preferences honoured (email and in-app), mandatory messages, the operators' channel, the API."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tenantry.accounts.models import Role
from tenantry.events.services import emit
from tenantry.notifications.models import Notification
from tests.dashboard.helpers import make_user, signed_in
from tests.http_stub import BackgroundServer, QuietHandler


def _failed(team, slug="shop"):
    emit("instance.failed", team=team, data={"instance_id": str(uuid.uuid4()), "slug": slug, "app": "hello",
                                             "status": "failed", "url": f"http://{slug}.localhost",
                                             "error_code": "unhealthy", "error_message": "the app did not answer"})


@pytest.fixture()
def owner(transactional_db):
    return make_user("owner@example.com")


def test_unread_count_in_header_read_and_mark_read(owner, mailbox):
    team = owner.memberships.get().team
    member = make_user("member@example.com", team=team, role=Role.MEMBER)
    _failed(team)
    _failed(team, "blog")
    browser = signed_in(owner)
    page = browser.get(reverse("dashboard:overview", args=[team.slug])).content.decode()
    assert 'id="unread-count"' in page and ">2</span>" in page
    # A member who did not create the instances is not told (owners and admins, and whoever asked).
    assert 'id="unread-count"' not in signed_in(member).get(reverse("dashboard:home"), follow=True).content.decode()
    listing = browser.get(reverse("dashboard:notifications")).content.decode()
    assert "shop failed: the app did not answer" in listing and "blog failed" in listing
    first = Notification.objects.filter(user=owner).order_by("created_at").first()
    response = browser.post(reverse("dashboard:notifications_read"), {"id": str(first.pk), "follow": "1"})
    assert response.status_code == 302 and response["Location"] == f"/t/{team.slug}/instances/shop/"
    assert ">1</span>" in browser.get(reverse("dashboard:notifications")).content.decode()
    browser.post(reverse("dashboard:notifications_read"))
    assert 'id="unread-count"' not in browser.get(reverse("dashboard:notifications")).content.decode()
    # Email too, in the person's language and naming the instance.
    message = mailbox.wait_for("owner@example.com")
    assert "failed" in message["Subject"] and f"/t/{team.slug}/instances/" in mailbox.text(message)


def test_preferences_are_honoured(owner, mailbox):
    team = owner.memberships.get().team
    admin = make_user("admin@example.com", team=team, role=Role.ADMIN)
    browser = signed_in(owner)
    page = browser.get(reverse("dashboard:notification_preferences")).content.decode()
    assert "instance.failed" in page and "payment.failed" not in page  # mandatory ones are not offered
    # Owner: no email for failures, still in the dashboard.
    form = {f"in_app:{t}": "on" for t in ("instance.failed", "instance.ready")} | {"email:instance.ready": "on"}
    assert browser.post(reverse("dashboard:notification_preferences"), form).status_code == 302
    _failed(team)
    mailbox.wait_for("admin@example.com")  # the admin kept the defaults: mailed
    assert mailbox.to("owner@example.com") == []
    assert Notification.objects.filter(user=owner, event_type="instance.failed").count() == 1
    # Nothing in the dashboard either, through the API this time.
    api = Client(enforce_csrf_checks=True)
    api.force_login(admin)
    api.get(reverse("dashboard:notifications"))
    token = api.cookies["csrftoken"].value
    response = api.put("/api/v1/notifications/preferences", [{"event_type": "instance.failed", "email": False,
                                                              "in_app": False}],
                       content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert next(p for p in response.json() if p["event_type"] == "instance.failed")["in_app"] is False
    _failed(team, "blog")
    assert Notification.objects.filter(user=admin).count() == 1
    assert len(mailbox.to("admin@example.com")) == 1
    # Mandatory messages cannot be turned off.
    refused = api.put("/api/v1/notifications/preferences", [{"event_type": "payment.failed", "email": False,
                                                             "in_app": False}],
                      content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert (refused.status_code, refused.json()["code"]) == (422, "notification_not_optional")


def test_notifications_api_is_the_persons_own(owner):
    team = owner.memberships.get().team
    other = make_user("other@example.com")
    _failed(team)
    api = Client()
    api.force_login(other)
    assert api.get("/api/v1/notifications").json()["count"] == 0
    assert api.get("/api/v1/notifications/unread-count").json() == {"unread": 0}
    mine = Client()
    mine.force_login(owner)
    items = mine.get("/api/v1/notifications?unread=true").json()["items"]
    assert [n["event_type"] for n in items] == ["instance.failed"] and items[0]["team"] == team.slug
    # Someone else cannot mark it read.
    token_client = Client()
    token_client.force_login(other)
    assert token_client.post("/api/v1/notifications/read", {"ids": [items[0]["id"]]},
                             content_type="application/json").json() == {"marked": 0}
    assert mine.post("/api/v1/notifications/read", {"ids": [items[0]["id"]]},
                     content_type="application/json").json() == {"marked": 1}
    assert mine.get("/api/v1/notifications/unread-count").json() == {"unread": 0}
    assert Client().get("/api/v1/notifications").status_code == 401


def test_operator_alerts_reach_the_slack_compatible_channel(owner, settings):
    got: list[dict] = []
    arrived = threading.Event()

    class Slack(QuietHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self._answer(200, {"ok": True})
            arrived.set()

    server = BackgroundServer(Slack)
    try:
        settings.TENANTRY_NOTIFICATIONS = {"OPERATOR_SLACK_WEBHOOK_URL": server.url + "/services/T/B/X"}
        _failed(owner.memberships.get().team)
        assert arrived.wait(10)
        assert "instance.failed" in got[0]["text"] and "shop failed" in got[0]["text"]
        emit("instance.ready", team=owner.memberships.get().team,
             data={"instance_id": str(uuid.uuid4()), "slug": "ok", "app": "hello", "status": "running",
                   "url": "http://ok.localhost"})
        assert len(got) == 1  # a customer's good news is not an operator alert
    finally:
        server.shutdown()
        server.server_close()


def test_messages_are_in_the_readers_language(owner, mailbox):
    owner.language = "fr"
    owner.save(update_fields=["language"])
    _failed(owner.memberships.get().team)
    assert Notification.objects.get(user=owner).title == "shop a échoué : the app did not answer"
    message = mailbox.wait_for("owner@example.com")
    assert message["Subject"] == "shop a échoué : the app did not answer"
    assert "Voir dans votre tableau de bord" in mailbox.text(message)
