"""Tickets over REST: opening with attachments, limits and refused types, internal notes never
shown, HTML kept as text, another team's ticket is a 404, status rules, search, statistics."""

from __future__ import annotations

import pytest
from django.test import Client

from tenantry.accounts.models import Role
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.support import services
from tenantry.support.models import Priority, Ticket, TicketAttachment, TicketStatus
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in
from tests.support.helpers import PNG, staff_user, team_of, upload


def api(team, *, read_only=False) -> Client:
    issued = api_key_create(team=team, name="support-tests", scope="read" if read_only else "write")
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")


@pytest.fixture()
def owner(transactional_db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return make_user("owner@acme.test")


def open_ticket(client, **fields):
    data = {"subject": "Site down", "body": "It answers 502", "category": "technical", **fields}
    return client.post("/api/v1/tickets", data=data)


def test_open_with_attachment_then_read_back(owner, tmp_path):
    client = api(team_of(owner))
    response = open_ticket(client, attachments=[upload("screen.png", PNG)])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open" and body["priority"] == "normal" and body["number"] >= 1
    [message] = body["messages"]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "screen.png" and attachment["size"] == len(PNG)
    stored = TicketAttachment.objects.get()
    assert (tmp_path / stored.path).read_bytes() == PNG
    download = client.get(attachment["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"


def test_priority_support_plans_default_to_high(owner):
    subscribe(team_of(owner), priority_support=True)
    assert open_ticket(api(team_of(owner))).json()["priority"] == Priority.HIGH
    assert open_ticket(api(team_of(owner)), priority="low").json()["priority"] == Priority.LOW


@pytest.mark.parametrize(("name", "content", "code"), [
    ("big.txt", b"x" * (1024 + 1), "attachment_too_large"),
    ("tool.exe", b"MZ\x90\x00", "attachment_type_refused"),
    ("page.html", b"<script>alert(1)</script>", "attachment_type_refused"),
    ("fake.png", b"<svg onload=alert(1)>", "attachment_type_refused"),
])
def test_bad_attachments_are_refused_and_nothing_is_created(owner, settings, tmp_path, name, content, code):
    settings.TENANTRY_SUPPORT = {**settings.TENANTRY_SUPPORT, "MAX_ATTACHMENT_BYTES": 1024}
    response = open_ticket(api(team_of(owner)), attachments=[upload("ok.png", PNG), upload(name, content)])
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert response.json()["details"]["filename"] == name
    assert not Ticket.objects.exists() and not TicketAttachment.objects.exists()
    assert not list((tmp_path / "support").rglob("*")) if (tmp_path / "support").exists() else True


def test_internal_notes_never_reach_the_customer(owner):
    client = api(team_of(owner))
    ticket = Ticket.objects.get(pk=open_ticket(client).json()["id"])
    agent = staff_user()
    services.ticket_note(ticket=ticket, user=agent, body="SECRET: customer is on the old kernel",
                         attachments=[])
    services.ticket_reply(ticket=ticket, user=agent, actor="user:agent", body="We are looking", staff=True)
    shown = client.get(f"/api/v1/tickets/{ticket.pk}").content.decode()
    assert "We are looking" in shown and "SECRET" not in shown
    assert client.get("/api/v1/tickets", {"q": "kernel"}).json()["count"] == 0
    page = signed_in(owner).get(f"/t/{team_of(owner).slug}/support/{ticket.pk}/")
    assert page.status_code == 200
    assert "We are looking" in page.content.decode() and "SECRET" not in page.content.decode()


def test_html_in_messages_is_text(owner):
    client = api(team_of(owner))
    created = open_ticket(client, subject="<b>bold</b>", body="<script>alert('x')</script><img src=x onerror=1>")
    assert created.json()["messages"][0]["body"] == "<script>alert('x')</script><img src=x onerror=1>"
    page = signed_in(owner).get(f"/t/{team_of(owner).slug}/support/{created.json()['id']}/").content.decode()
    assert "<script>alert('x')</script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_another_teams_ticket_is_a_404(owner):
    ticket_id = open_ticket(api(team_of(owner)), attachments=[upload("a.png", PNG)]).json()["id"]
    attachment = TicketAttachment.objects.get()
    stranger = make_user("mallory@evil.test")
    other = api(team_of(stranger))
    for path in (f"/api/v1/tickets/{ticket_id}", f"/api/v1/tickets/{ticket_id}/attachments/{attachment.pk}"):
        response = other.get(path)
        assert response.status_code == 404 and response.json()["code"] in ("ticket_not_found", "not_found")
    assert other.post(f"/api/v1/tickets/{ticket_id}/messages", data={"body": "hi"}).status_code == 404
    assert other.get("/api/v1/tickets").json()["count"] == 0
    browser = signed_in(stranger)
    assert browser.get(f"/t/{team_of(owner).slug}/support/{ticket_id}/").status_code == 404
    assert browser.get(f"/t/{team_of(stranger).slug}/support/{ticket_id}/").status_code == 404
    assert browser.get(f"/t/{team_of(stranger).slug}/support/{ticket_id}/attachments/{attachment.pk}/"
                       ).status_code == 404
    assert browser.get(f"/operator/support/{ticket_id}/").status_code == 302  # not staff: to the admin login


def test_read_only_keys_read_and_members_ask(owner):
    team = team_of(owner)
    assert open_ticket(api(team, read_only=True)).status_code == 403
    billing = make_user("books@acme.test", team=team, role=Role.BILLING)
    response = signed_in(billing).post(f"/t/{team.slug}/support/new/", {
        "subject": "Invoice question", "category": "billing", "body": "VAT number?"})
    assert response.status_code == 302
    assert api(team, read_only=True).get("/api/v1/tickets").json()["count"] == 1


def test_status_rules(owner):
    client = api(team_of(owner))
    ticket_id = open_ticket(client).json()["id"]
    refused = client.post(f"/api/v1/tickets/{ticket_id}/status", {"status": "in_progress"},
                          content_type="application/json")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_status_transition"
    resolved = client.post(f"/api/v1/tickets/{ticket_id}/status", {"status": "resolved"},
                           content_type="application/json").json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    # A customer's reply reopens a resolved ticket.
    assert client.post(f"/api/v1/tickets/{ticket_id}/messages", data={"body": "still broken"}).json()[
        "status"] == "open"
    client.post(f"/api/v1/tickets/{ticket_id}/status", {"status": "closed"}, content_type="application/json")
    late = client.post(f"/api/v1/tickets/{ticket_id}/messages", data={"body": "hello?"})
    assert late.status_code == 409 and late.json()["code"] == "ticket_closed"
    reopen = client.post(f"/api/v1/tickets/{ticket_id}/status", {"status": "open"}, content_type="application/json")
    assert reopen.status_code == 409
    assert Ticket.objects.get().status == TicketStatus.CLOSED


def test_search_and_filters(owner):
    client = api(team_of(owner))
    open_ticket(client, subject="Backup failed", body="The nightly backup of shop failed")
    open_ticket(client, subject="Invoice", body="Wrong VAT", category="billing")
    assert [t["subject"] for t in client.get("/api/v1/tickets", {"q": "nightly"}).json()["items"]] == [
        "Backup failed"]
    assert [t["subject"] for t in client.get("/api/v1/tickets", {"category": "billing"}).json()["items"]] == [
        "Invoice"]
    number = Ticket.objects.get(subject="Invoice").number
    assert client.get("/api/v1/tickets", {"q": f"#{number}"}).json()["count"] == 1
    bad = client.get("/api/v1/tickets", {"status": "nope"})
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "status"


def test_statistics(owner):
    client = api(team_of(owner))
    first = Ticket.objects.get(pk=open_ticket(client, priority="urgent").json()["id"])
    open_ticket(client, priority="low")
    agent = staff_user()
    services.ticket_reply(ticket=first, user=agent, actor="user:agent", body="Fixed", staff=True, status="resolved")
    stats = client.get("/api/v1/tickets/stats").json()
    assert stats["open_total"] == 1 and stats["open_by_priority"]["low"] == 1
    assert stats["open_by_priority"]["urgent"] == 0 and stats["open_by_status"]["open"] == 1
    assert stats["resolved_total"] == 1
    assert stats["avg_first_response_minutes"] is not None and stats["avg_first_response_minutes"] >= 0
    assert stats["avg_resolution_minutes"] is not None
    # Only the team's own tickets count.
    assert api(team_of(make_user("x@other.test"))).get("/api/v1/tickets/stats").json()["open_total"] == 0
