"""The operators' queue without a browser: staff only, filters and search (notes included for
staff), assignment to staff only, status rules, the audit trail."""

from __future__ import annotations

import pytest

from tenantry.core.models import AuditEvent
from tenantry.support import selectors, services
from tenantry.support.models import Ticket, TicketStatus
from tests.dashboard.helpers import make_user, signed_in
from tests.support.helpers import staff_user, team_of


@pytest.fixture()
def desk(transactional_db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    customer = make_user("iris@farm.test")
    agent = staff_user()
    low = services.ticket_open(team=team_of(customer), user=customer, actor="user:iris", subject="Slow pages",
                               body="sometimes", priority="low")
    urgent = services.ticket_open(team=team_of(customer), user=customer, actor="user:iris", subject="All down",
                                  body="nothing works", priority="urgent", category="technical")
    return customer, agent, low, urgent


def test_only_staff_see_the_queue(desk):
    customer, agent, low, _ = desk
    assert signed_in(customer).get("/operator/support/").status_code == 302
    assert signed_in(customer).get(f"/operator/support/{low.pk}/").status_code == 302
    assert signed_in(customer).post(f"/operator/support/{low.pk}/note/", {"body": "x"}).status_code == 302
    page = signed_in(agent).get("/operator/support/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("All down") < html.index("Slow pages")  # urgent first


def test_filters_and_staff_search_includes_notes(desk):
    _, agent, low, urgent = desk
    services.ticket_note(ticket=low, user=agent, body="probably the disk quota")
    assert [t.pk for t in selectors.staff_queue(q="quota")] == [low.pk]
    assert not selectors.ticket_list(team=low.team, q="quota").exists()  # customers never search notes
    assert [t.pk for t in selectors.staff_queue(priority="urgent")] == [urgent.pk]
    assert {t.pk for t in selectors.staff_queue(assignee="none")} == {low.pk, urgent.pk}
    client = signed_in(agent)
    client.post(f"/operator/support/{urgent.pk}/assign/", {"assignee": agent.email})
    assert [t.pk for t in selectors.staff_queue(assignee="me", user=agent)] == [urgent.pk]
    assert Ticket.objects.get(pk=urgent.pk).status == TicketStatus.IN_PROGRESS
    html = client.get("/operator/support/", {"assignee": "me"}).content.decode()
    assert "All down" in html and "Slow pages" not in html


def test_assignment_and_status_rules(desk):
    customer, agent, low, _ = desk
    client = signed_in(agent)
    response = client.post(f"/operator/support/{low.pk}/assign/", {"assignee": customer.email}, follow=True)
    assert "Tickets are assigned to staff members only." in response.content.decode()
    assert Ticket.objects.get(pk=low.pk).assignee is None
    client.post(f"/operator/support/{low.pk}/reply/", {"body": "done", "status": "bogus"})
    assert not low.messages.filter(kind="staff").exists()  # refused whole: no message without its status
    client.post(f"/operator/support/{low.pk}/status/", {"status": "closed"})
    assert Ticket.objects.get(pk=low.pk).status == TicketStatus.CLOSED
    refused = client.post(f"/operator/support/{low.pk}/status/", {"status": "open"}, follow=True)
    assert "cannot become" in refused.content.decode()
    assert Ticket.objects.get(pk=low.pk).status == TicketStatus.CLOSED
    actions = set(AuditEvent.objects.filter(target_id=str(low.pk)).values_list("action", flat=True))
    assert {"ticket.open", "ticket.status"} <= actions
