"""The audit trail: who (user or key), which team, from which IP and user agent, what changed;
owners see their team's rows only, staff see all, CSV export, old rows anonymised."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenantry.accounts.models import Role
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.core.models import AuditEvent
from tenantry.privacy.services.audit import audit_anonymise_expired
from tests.dashboard.helpers import make_user, signed_in

pytestmark = pytest.mark.django_db

AGENT = "pytest-agent/1.0"


@pytest.fixture(autouse=True)
def _private_webhooks(settings):
    settings.TENANTRY_WEBHOOKS = {**settings.TENANTRY_WEBHOOKS, "ALLOW_PRIVATE": True}


@pytest.fixture()
def owners():
    ana = make_user("ana@example.com")
    bob = make_user("bob@example.com")
    return ana, ana.memberships.get().team, bob, bob.memberships.get().team


def test_dashboard_write_records_user_team_ip_agent_and_changed_fields(owners):
    ana, team, _, _ = owners
    member = make_user("carl@example.com", team=team, role=Role.MEMBER)
    membership = member.memberships.get(team=team)
    client = signed_in(ana)
    response = client.post(reverse("dashboard:member_role", args=[team.slug, membership.pk]), {"role": "admin"},
                           HTTP_USER_AGENT=AGENT, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302
    row = AuditEvent.objects.get(action="membership.role")
    assert row.team_id == team.pk and row.actor == "user:ana@example.com" and row.actor_user_id == ana.pk
    assert row.ip == "203.0.113.7" and row.user_agent == AGENT
    assert row.changes == {"role": ["member", "admin"]}


def test_api_write_records_key_and_team(owners):
    _, team, _, _ = owners
    key = api_key_create(team=team, name="ci").plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_USER_AGENT=AGENT)
    created = client.post("/api/v1/webhooks/endpoints", {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
                          content_type="application/json")
    assert created.status_code == 201, created.content
    row = AuditEvent.objects.filter(action__startswith="webhook").latest("id")
    assert row.team_id == team.pk and row.actor.startswith("api-key:") and row.user_agent == AGENT
    assert row.ip == "127.0.0.1"


def test_writes_no_service_audits_are_recorded_by_the_middleware(owners):
    ana, _team, _, _ = owners
    client = signed_in(ana)
    before = AuditEvent.objects.count()
    response = client.post(reverse("dashboard:notifications_read"), {"all": "1"}, HTTP_USER_AGENT=AGENT)
    assert response.status_code in (302, 303)
    rows = AuditEvent.objects.all()[: AuditEvent.objects.count() - before]
    assert len(rows) == 1
    assert rows[0].action == "request.post" and rows[0].actor_user_id == ana.pk and "all" in rows[0].changes


def test_owner_sees_own_team_only_in_dashboard_and_api(owners):
    ana, team_a, _bob, team_b = owners
    api_key_create(team=team_b, name="b-secret-key", actor="user:bob@example.com")
    api_key_create(team=team_a, name="a-key", actor="user:ana@example.com")
    page = signed_in(ana).get(reverse("dashboard:audit", args=[team_a.slug]))
    assert page.status_code == 200
    assert b"api_key.create" in page.content and b"bob@example.com" not in page.content
    assert signed_in(ana).get(reverse("dashboard:audit", args=[team_b.slug])).status_code == 404
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team_a, name='r', scope='read').plaintext}")
    listing = client.get("/api/v1/audit?action=api_key.").json()
    assert listing["count"] >= 2
    assert {item["team_id"] for item in listing["items"]} == {str(team_a.pk)}
    b_row = AuditEvent.objects.filter(team_id=team_b.pk).first()
    missing = client.get(f"/api/v1/audit/{b_row.pk}")
    assert missing.status_code == 404 and missing.json()["code"] == "audit_event_not_found"


def test_members_who_are_not_owners_do_not_see_the_trail(owners):
    _, team, _, _ = owners
    admin = make_user("adm@example.com", team=team, role=Role.ADMIN)
    assert signed_in(admin).get(reverse("dashboard:audit", args=[team.slug])).status_code == 404


def test_staff_see_every_team_and_filter_by_team(owners):
    _, team_a, _, team_b = owners
    api_key_create(team=team_b, name="k", actor="user:bob@example.com")
    staff = make_user("op@example.com")
    staff.is_staff = True
    staff.save()
    client = signed_in(staff)
    page = client.get(reverse("dashboard:operator_audit"))
    assert b"user:bob@example.com" in page.content
    only_a = client.get(reverse("dashboard:operator_audit"), {"team": team_a.slug, "action": "api_key.create"})
    assert b"user:bob@example.com" not in only_a.content
    assert signed_in(make_user("nobody@example.com")).get(reverse("dashboard:operator_audit")).status_code == 302


def test_csv_export_filters_and_neutralises_formulas(owners):
    ana, team, _, _ = owners
    key = api_key_create(team=team, name="k").plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_USER_AGENT="=HYPERLINK(\"http://evil\")")
    client.post("/api/v1/webhooks/endpoints", {"url": "http://127.0.0.1:9/h", "event_types": ["*"]},
                content_type="application/json")
    response = client.get("/api/v1/audit/export.csv?action=webhook_endpoint.")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows and all(r["action"].startswith("webhook_endpoint.") for r in rows)
    assert rows[0]["user_agent"].startswith("'=")
    # Any offset Python accepts is a filter, not a 500 (PostgreSQL takes only ±15:59).
    far_east = client.get("/api/v1/audit/export.csv", {"action": "webhook_endpoint.",
                                                        "since": "2000-01-01T00:00:00+16:00"})
    assert far_east.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(b"".join(far_east.streaming_content).decode())))) == len(rows)
    dashboard_csv = signed_in(ana).get(reverse("dashboard:audit", args=[team.slug]), {"format": "csv"})
    text = b"".join(dashboard_csv.streaming_content).decode()
    assert text.startswith("id,created_at,actor") and "api_key.create" in text


def test_rows_past_retention_are_anonymised(owners, settings):
    ana, team, _, _ = owners
    client = signed_in(ana)
    client.post(reverse("dashboard:notifications_read"), {"all": "1"}, HTTP_USER_AGENT=AGENT,
                REMOTE_ADDR="198.51.100.4")
    old = AuditEvent.objects.latest("id")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    recent = api_key_create(team=team, name="k", actor="user:ana@example.com")
    settings.TENANTRY = {**settings.TENANTRY, "AUDIT_RETENTION_DAYS": 90}
    assert audit_anonymise_expired() >= 1
    old.refresh_from_db()
    assert old.ip is None and old.user_agent == "" and old.actor == "anonymised" and old.actor_user_id is None
    assert old.anonymised_at is not None and old.action == "request.post"
    kept = AuditEvent.objects.get(action="api_key.create", target_id=str(recent.key.pk))
    assert kept.actor == "user:ana@example.com" and kept.anonymised_at is None
    assert audit_anonymise_expired() == 0  # idempotent
