"""Service levels with a frozen clock: the plan's first-response and resolution times, the
sweep that flags a breached ticket once and alerts the operators (staff email and the
Slack-compatible channel), the queue's breach flag and filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tenantry.support import services
from tenantry.support.models import PlanSla, Ticket
from tenantry.support.tasks import support_sla_sweep
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in
from tests.http_stub import BackgroundServer, QuietHandler
from tests.support.helpers import staff_user, team_of

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Channel:
    """A Slack-compatible incoming webhook on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        channel = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                channel.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self._answer(200, {"ok": True})

        self.server = BackgroundServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def channel(settings):
    c = Channel()
    settings.TENANTRY_NOTIFICATIONS = {**settings.TENANTRY_NOTIFICATIONS, "OPERATOR_SLACK_WEBHOOK_URL": c.url}
    yield c
    c.close()


def test_breaches_are_flagged_once_and_operators_alerted(transactional_db, settings, tmp_path, mailbox, channel):
    settings.DATA_DIR = tmp_path
    customer = make_user("ana@shop.test")
    agent = staff_user()
    with time_machine.travel(START, tick=False) as clock:
        subscription = subscribe(team_of(customer), priority_support=True)
        PlanSla.objects.create(plan=subscription.plan, first_response_minutes=60, resolution_minutes=240)
        ticket = services.ticket_open(team=team_of(customer), user=customer, actor="user:ana", subject="Shop down",
                                      body="500 everywhere")
        assert ticket.priority == "high"  # a plan with priority support
        assert ticket.first_response_due == START + timedelta(minutes=60)
        assert ticket.resolution_due == START + timedelta(minutes=240)

        clock.shift(timedelta(minutes=59))
        assert services.sla_sweep() == []
        clock.shift(timedelta(minutes=2))
        support_sla_sweep.call_local()  # what the worker runs every five minutes
        ticket.refresh_from_db()
        assert ticket.first_response_breached and not ticket.resolution_breached
        alert = mailbox.wait_for(agent.email)
        assert "SLA" in alert["Subject"] and "Shop down" in mailbox.text(alert)
        assert "first response overdue" in mailbox.text(alert)
        assert len(channel.posts) == 1 and "Shop down" in channel.posts[0]["text"]
        assert services.sla_sweep() == []  # flagged once, alerted once
        assert len(channel.posts) == 1

        # The queue shows the flag; the filter finds it; the customer never sees it.
        queue = signed_in(agent).get("/operator/support/", {"breached": "1"}).content.decode()
        assert "Shop down" in queue and "sla-breached" in queue
        other = services.ticket_open(team=team_of(customer), user=customer, actor="user:ana", subject="Question",
                                     body="?")
        assert "Question" not in signed_in(agent).get("/operator/support/", {"breached": "1"}).content.decode()
        assert "breached" not in signed_in(customer).get(f"/t/{team_of(customer).slug}/support/{ticket.pk}/"
                                                         ).content.decode().lower()

        # Answered late: the resolution is still due at 4 h.
        services.ticket_reply(ticket=ticket, user=agent, actor="user:agent", body="Looking", staff=True)
        clock.shift(timedelta(minutes=180))
        flagged = services.sla_sweep()
        # This one's resolution, and the other's first response (due an hour after it was opened).
        assert sorted((t.number, t.resolution_breached) for t in flagged) == [(ticket.number, True),
                                                                             (other.number, False)]
        assert Ticket.objects.get(pk=ticket.pk).resolution_breached
        assert Ticket.objects.get(pk=other.pk).first_response_breached
        assert "resolution overdue" in channel.posts[-1]["text"]

        # A resolved ticket is never flagged.
        services.ticket_set_status(ticket=other, status="resolved", actor="user:ana", staff=False)
        clock.shift(timedelta(days=10))
        assert services.sla_sweep() == []
