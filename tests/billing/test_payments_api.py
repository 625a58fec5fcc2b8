"""/api/v1/billing/<team>/…payments: initiate for an invoice, history, status, cancel; roles and isolation."""

from __future__ import annotations

import pytest
from django.test import Client

from tenantry.accounts.models import Role
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.billing.models import Payment
from tests.billing.payments_helpers import team_with_invoice
from tests.dashboard.helpers import make_user, signed_in

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.billing.payments_helpers"]


def _post(client: Client, path: str, data: dict | None = None):
    return client.post(f"/api/v1/billing{path}", data=data or {}, content_type="application/json")


def test_pay_list_show_cancel(payment_providers) -> None:
    team, _, invoice = team_with_invoice()
    owner = signed_in(team.memberships.get().user)
    path = f"/{team.slug}/invoices/{invoice.pk}/payments"
    answer = _post(owner, path, {"provider": "gateway", "method": "mobile_money", "phone": "+22507000011"})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["status"], body["amount_minor"], body["currency"]) == ("pending", 5000, "XOF")
    assert body["invoice_number"] == invoice.display_number and "on your phone" in body["instructions"]
    # The same request again: the payment in progress, not a second one.
    assert _post(owner, path, {"provider": "gateway", "method": "mobile_money",
                               "phone": "+22507000011"}).json()["id"] == body["id"]
    history = owner.get(f"/api/v1/billing/{team.slug}/payments").json()
    assert history["count"] == 1 and history["items"][0]["id"] == body["id"]
    shown = owner.get(f"/api/v1/billing/{team.slug}/payments/{body['id']}?refresh=true").json()
    assert shown["status"] == "pending"
    cancelled = _post(owner, f"/{team.slug}/payments/{body['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = _post(owner, f"/{team.slug}/payments/{body['id']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "payment_not_pending"


def test_bad_input_is_refused_with_the_error_shape(payment_providers) -> None:
    team, _, invoice = team_with_invoice()
    owner = signed_in(team.memberships.get().user)
    path = f"/{team.slug}/invoices/{invoice.pk}/payments"
    no_phone = _post(owner, path, {"provider": "gateway", "method": "mobile_money"})
    assert no_phone.status_code == 422 and no_phone.json()["code"] == "phone_required"
    wrong = _post(owner, path, {"provider": "gateway", "method": "card", "phone": "+22507000011"})
    assert wrong.json()["code"] == "unsupported_method"
    unknown = _post(owner, path, {"provider": "paypal", "method": "card"})
    assert unknown.json()["code"] == "unknown_provider"
    assert Payment.objects.count() == 0


def test_roles_and_team_isolation(payment_providers) -> None:
    team, _, invoice = team_with_invoice()
    other_team, _, other_invoice = team_with_invoice()
    path = f"/{team.slug}/invoices/{invoice.pk}/payments"
    data = {"provider": "manual", "method": "bank_transfer"}
    member = signed_in(make_user("member@example.com", team=team, role=Role.MEMBER))
    denied = _post(member, path, data)
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    accountant = signed_in(make_user("billing@example.com", team=team, role=Role.BILLING))
    created = _post(accountant, path, data)
    assert created.status_code == 201 and "Reference: " + invoice.display_number in created.json()["instructions"]
    admin = signed_in(make_user("admin@example.com", team=team, role=Role.ADMIN))
    assert admin.get(f"/api/v1/billing/{team.slug}/payments").status_code == 200  # view, not manage
    assert _post(admin, f"/{team.slug}/payments/{created.json()['id']}/cancel").status_code == 403
    # Another team's invoice or payment is a 404, like one that does not exist.
    assert _post(accountant, f"/{team.slug}/invoices/{other_invoice.pk}/payments", data).status_code == 404
    other_owner = signed_in(other_team.memberships.get().user)
    assert other_owner.get(f"/api/v1/billing/{other_team.slug}/payments/{created.json()['id']}").status_code == 404
    assert other_owner.get(f"/api/v1/billing/{team.slug}/payments").status_code == 404
    # API keys never get billing rights.
    key = api_key_create(team=team, name="ci").plaintext
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert keyed.get(f"/api/v1/billing/{team.slug}/payments").status_code == 403
