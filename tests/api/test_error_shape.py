"""Every API failure answers JSON in one shape `{"code", "message", "details"}`: out-of-range
pagination (the fuzzer's URLs), an unhandled exception, and the billing API's session auth
(401 before any CSRF check; a signed-in POST without the token is still refused)."""

from __future__ import annotations

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.instances import selectors
from tests.billing.billing_helpers import make_plan, make_team
from tests.dashboard.helpers import signed_in

pytestmark = pytest.mark.django_db

# What Schemathesis found on GET /instances, then the other bounds: negative, past the maximum
# page size, huge, non-numeric, fractional.
FUZZED = [
    "limit=225078&offset=175248290494237101785088",
    "offset=175248290494237101785088",
    "limit=101",
    "limit=0",
    "limit=-1",
    "offset=-5",
    "limit=99999999999999999999999999",
    "offset=1000000001",
    "limit=abc",
    "offset=1.5",
    "limit=%00",
]


def _list_endpoints(team_slug: str) -> list[str]:
    return ["/api/v1/instances", "/api/v1/instances/whatever/executions", f"/api/v1/billing/{team_slug}/invoices",
            f"/api/v1/billing/{team_slug}/payments"]


def _assert_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == code, body
    return body


@pytest.mark.parametrize("query", FUZZED)
def test_out_of_range_pagination_is_a_422_on_every_list_endpoint(query):
    team = make_team("fuzzed")
    key_client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
    session_client = signed_in(team.memberships.get().user)
    for path in _list_endpoints(team.slug):
        client = session_client if "/billing/" in path else key_client
        body = _assert_shape(client.get(f"{path}?{query}"), 422, "invalid_input")
        assert body["details"]["errors"][0]["field"] in ("limit", "offset")


def test_pages_are_capped_and_valid_bounds_still_answer():
    team = make_team("paged")
    key_client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")
    session_client = signed_in(team.memberships.get().user)
    assert key_client.get("/api/v1/instances?limit=100&offset=1000000000").json() == {"items": [], "count": 0}
    assert session_client.get("/api/v1/billing/paged/invoices?limit=1").json() == {"items": [], "count": 0}
    assert session_client.get("/api/v1/billing/paged/payments?limit=100").status_code == 200
    schema = key_client.get("/api/v1/openapi.json").json()
    parameters = schema["paths"]["/api/v1/instances"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 100)


def test_an_unhandled_exception_answers_json_without_the_traceback(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database password=hunter2 in a stack frame")

    monkeypatch.setattr(selectors, "instance_list", broken)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=operator_team(), name='k').plaintext}")
    response = client.get("/api/v1/instances")
    body = _assert_shape(response, 500, "internal_error")
    assert body["details"] == {}
    text = response.content.decode()
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text


def test_billing_api_wants_a_session_first_then_its_csrf_token():
    team = make_team("csrfco")
    make_plan()
    path = "/api/v1/billing/csrfco/subscription"
    payload = {"plan": "starter", "interval": "month"}
    anonymous = Client(enforce_csrf_checks=True)
    for url in (path, "/api/v1/billing/csrfco/subscription/cancel", "/api/v1/billing/csrfco/addons"):
        body = _assert_shape(anonymous.post(url, payload, content_type="application/json"), 401, "unauthorized")
        assert body["details"] == {}

    member = Client(enforce_csrf_checks=True)
    member.force_login(team.memberships.get().user)
    body = _assert_shape(member.post(path, payload, content_type="application/json"), 403, "csrf_failed")
    assert not team.subscriptions.exists()
    # Reading needs no token; writing with the token goes through.
    assert member.get("/api/v1/billing/csrfco/invoices").status_code == 200
    token = _get_new_csrf_string()
    member.cookies["csrftoken"] = token
    created = member.post(path, payload, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    assert team.subscriptions.get().plan.code == "starter"


def test_unknown_api_paths_answer_json_and_dashboard_paths_do_not():
    body = _assert_shape(Client().get("/api/v1/no-such-thing"), 404, "not_found")
    assert body["message"] == "No such API endpoint."
    page = Client().get("/no-such-page/")
    assert page.status_code == 404 and not page["Content-Type"].startswith("application/json")
