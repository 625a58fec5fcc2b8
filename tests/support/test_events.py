"""`ticket.*` events reach a team's outbound webhooks (signed, verified by the receiver) and the
in-app notification centre; internal notes emit nothing."""

from __future__ import annotations

import pytest

from tenantry.notifications.models import Notification
from tenantry.support import services
from tests.dashboard.helpers import make_user
from tests.support.helpers import staff_user, team_of
from tests.webhooks.helpers import allow_private, api_client, post
from tests.webhooks.receiver import Receiver


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_ticket_events_reach_webhooks_and_the_notification_centre(transactional_db, settings, tmp_path, receiver):
    settings.DATA_DIR = tmp_path
    allow_private(settings)
    customer = make_user("lea@studio.test")
    team = team_of(customer)
    created = post(api_client(team), "/webhooks/endpoints", {"url": receiver.url, "event_types": ["ticket.*"]}).json()
    receiver.secret = created["secret"]
    agent = staff_user()

    ticket = services.ticket_open(team=team, user=customer, actor="user:lea", subject="DNS", body="help")
    services.ticket_note(ticket=ticket, user=agent, body="internal")
    services.ticket_reply(ticket=ticket, user=agent, actor="user:agent", body="Add a CNAME", staff=True)
    services.ticket_reply(ticket=ticket, user=customer, actor="user:lea", body="Done", staff=False)

    got = [(r.json["type"], r.json["data"].get("status")) for r in receiver.accepted()]
    assert got == [("ticket.created", "open"), ("ticket.replied", "waiting_for_customer"),
                   ("ticket.status_changed", "waiting_for_customer"), ("ticket.customer_replied", "open"),
                   ("ticket.status_changed", "open")]
    assert all(r.verified for r in receiver.received)
    assert "internal" not in str([r.json for r in receiver.accepted()])
    assert receiver.accepted()[0].json["data"]["number"] == ticket.number

    # The customer's notification centre: support's reply (always) and the status changes.
    titles = list(Notification.objects.filter(user=customer).values_list("title", "url"))
    assert ("New reply on your ticket: DNS", f"/t/{team.slug}/support/{ticket.pk}/") in titles
