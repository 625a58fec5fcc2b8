"""The billing REST API: session members with billing rights, team scoping, error shape, PDF download."""

from __future__ import annotations

import pytest
from django.test import Client

from tenantry.accounts.models import Membership, Role, User
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.billing.models import Invoice, Subscription
from tests.billing.billing_helpers import french_vat, make_addon, make_plan, make_team

pytestmark = pytest.mark.django_db


def _client_for(team, role=Role.OWNER) -> Client:
    user = User.objects.create_user(email=f"{role}@{team.slug}.member", password="x" * 16)
    Membership.objects.create(team=team, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str, data: dict | None = None, **extra):
    return client.post(f"/api/v1/billing{path}", data=data or {}, content_type="application/json", **extra)


def test_checkout_preview_invoices_pdf_and_addons_through_the_api() -> None:
    french_vat()
    team = make_team("apico")
    make_plan(addons_allowed=True)
    make_plan("pro", month=9900, addons_allowed=True)
    make_addon()
    client = _client_for(team)

    plans = client.get("/api/v1/billing/plans").json()
    assert {p["code"] for p in plans} == {"pro", "starter"}
    created = _post(client, "/apico/subscription", {"plan": "starter", "interval": "month"},
                    HTTP_IDEMPOTENCY_KEY="abc")
    assert created.status_code == 201, created.content
    again = _post(client, "/apico/subscription", {"plan": "starter", "interval": "month"},
                  HTTP_IDEMPOTENCY_KEY="abc")
    assert again.json()["id"] == created.json()["id"]
    assert Subscription.objects.filter(team=team).count() == 1

    invoices = client.get("/api/v1/billing/apico/invoices").json()
    assert invoices["count"] == 1 and invoices["items"][0]["total_minor"] == 3480
    invoice_id = invoices["items"][0]["id"]
    detail = client.get(f"/api/v1/billing/apico/invoices/{invoice_id}").json()
    assert detail["number"] == "INV-000001" and detail["lines"][0]["amount_minor"] == 2900
    pdf = client.get(f"/api/v1/billing/apico/invoices/{invoice_id}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")

    preview = client.get("/api/v1/billing/apico/subscription/preview").json()
    assert preview["total_minor"] == 3480 and preview["number"] == ""
    assert Invoice.objects.count() == 1

    bought = _post(client, "/apico/addons", {"addon": "ram-500"})
    assert bought.status_code == 201 and bought.json()["status"] == "active"
    cancelled = _post(client, f"/apico/addons/{bought.json()['id']}/cancel", {"immediately": True})
    assert cancelled.json()["status"] == "cancelled"

    changed = _post(client, "/apico/subscription/change", {"plan": "pro"}).json()
    assert changed["plan"] == "pro"
    cancel = _post(client, "/apico/subscription/cancel", {"at_period_end": True}).json()
    assert cancel["cancel_at_period_end"] is True


def test_errors_permissions_and_team_scoping() -> None:
    make_plan()
    mine, theirs = make_team("mine"), make_team("theirs")
    member = _client_for(mine, role=Role.MEMBER)
    denied = _post(member, "/mine/subscription", {"plan": "starter"})
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    owner = _client_for(mine)
    assert owner.get("/api/v1/billing/theirs/invoices").status_code == 404
    missing = _post(owner, "/mine/subscription", {"plan": "nope"})
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message", "details"}
    bad = _post(owner, "/mine/subscription", {"plan": "starter", "interval": "week"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert not Subscription.objects.exists()
    # API keys never get billing rights (accounts/access.py): same error shape.
    key = api_key_create(team=mine, name="ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    assert api.get("/api/v1/billing/mine/invoices").json()["code"] == "forbidden"
    assert Client().get("/api/v1/billing/mine/invoices").status_code == 401
    assert theirs.slug == "theirs"
