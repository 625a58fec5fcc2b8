"""Lago engine: sync through lago-python-client against a local stand-in of Lago's API (payload
shapes per Lago's API reference), and webhooks signed for real (RS256 JWT with a generated key
pair, or base64 HMAC-SHA256 with the API key), deduplicated by what is signed (never by the
unsigned X-Lago-Unique-Key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from tenantry.billing.engines.lago import LagoEngine
from tenantry.billing.models import ProcessedWebhook, Subscription
from tenantry.billing.providers.base import InvalidSignature
from tenantry.core.models import AuditEvent
from tests.billing.payments_helpers import team_with_invoice
from tests.http_stub import BackgroundServer, QuietHandler

pytestmark = pytest.mark.django_db
API_KEY = "lago_test_api_key_123"
PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = PRIVATE_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


class FakeLago(BackgroundServer):
    """Answers like Lago's REST API for the calls the engine makes; records them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.plans: set[str] = set()
        outer = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length)) if length else {}
                outer.calls.append((self.command, self.path, payload))
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._answer(401, {"status": 401, "error": "Unauthorized"})
                now = "2026-11-21T08:00:00Z"
                if self.path == "/api/v1/customers" and self.command == "POST":
                    c = payload["customer"]
                    return self._answer(200, {"customer": {**c, "lago_id": str(uuid.uuid4()), "created_at": now,
                                                           "updated_at": now, "applicable_timezone": c["timezone"]}})
                if self.path == "/api/v1/plans" and self.command == "POST":
                    p = payload["plan"]
                    if p["code"] in outer.plans:
                        return self._answer(422, {"status": 422, "error": "Unprocessable Entity",
                                                  "code": "validation_errors",
                                                  "error_details": {"code": ["value_already_exist"]}})
                    outer.plans.add(p["code"])
                    return self._answer(200, {"plan": {**p, "lago_id": str(uuid.uuid4()), "created_at": now}})
                if self.path.startswith("/api/v1/plans/") and self.command == "PUT":
                    p = payload["plan"]
                    return self._answer(200, {"plan": {**p, "lago_id": str(uuid.uuid4()), "created_at": now}})
                if self.path == "/api/v1/subscriptions" and self.command == "POST":
                    s = payload["subscription"]
                    return self._answer(200, {"subscription": {**s, "lago_id": str(uuid.uuid4()),
                                                               "status": "active", "created_at": now}})
                if self.path.startswith("/api/v1/subscriptions/") and self.command == "DELETE":
                    return self._answer(200, {"subscription": {"lago_id": str(uuid.uuid4()),
                                                               "external_id": self.path.rsplit("/", 1)[1],
                                                               "status": "terminated"}})
                if self.path == "/api/v1/webhooks/json_public_key":
                    return self._answer(200, {"webhook": {"public_key": base64.b64encode(PUBLIC_PEM).decode()}})
                return self._answer(404, {"status": 404, "error": "Not Found", "code": "not_found"})

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        super().__init__(Handler)



@pytest.fixture
def lago(settings) -> Iterator[FakeLago]:
    server = FakeLago()
    settings.LAGO_API_URL, settings.LAGO_API_KEY = server.url, API_KEY
    settings.LAGO_WEBHOOK_SIGNATURE, settings.LAGO_PUBLIC_KEY = "jwt", base64.b64encode(PUBLIC_PEM).decode()
    yield server
    server.shutdown()
    server.server_close()


def jwt_headers(body: bytes, issuer: str, unique_key: str, key: Any = PRIVATE_KEY) -> dict[str, str]:
    token = jwt.encode({"data": body.decode(), "iss": issuer}, key, algorithm="RS256")
    return {"X-Lago-Signature": token, "X-Lago-Signature-Algorithm": "jwt", "X-Lago-Unique-Key": unique_key}


def hmac_headers(body: bytes, unique_key: str, key: str = API_KEY) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Lago-Signature": signature, "X-Lago-Signature-Algorithm": "hmac", "X-Lago-Unique-Key": unique_key}


def subscription_webhook(kind: str, subscription: Subscription) -> bytes:
    return json.dumps({"webhook_type": f"subscription.{kind}", "object_type": "subscription", "subscription": {
        "lago_id": str(uuid.uuid4()), "external_id": str(subscription.pk), "lago_customer_id": str(uuid.uuid4()),
        "external_customer_id": str(subscription.team_id), "plan_code": f"{subscription.plan.code}-month",
        "status": "active" if kind == "started" else "terminated", "billing_time": "anniversary",
        "created_at": "2026-11-21T08:00:00Z"}}).encode()


def test_sync_customer_plan_and_subscription(lago: FakeLago) -> None:
    team, subscription, _ = team_with_invoice(currency="EUR", amount=1900)
    engine = LagoEngine.from_settings()
    assert engine.sync_plan(subscription.plan) == [f"{subscription.plan.code}-month",
                                                   f"{subscription.plan.code}-year"]
    engine.sync_plan(subscription.plan)  # again: the codes exist -> updated in place
    engine.sync_subscription(subscription)
    engine.terminate_subscription(subscription)
    calls = [(method, path) for method, path, _ in lago.calls]
    assert calls == [("POST", "/api/v1/plans"), ("POST", "/api/v1/plans"),
                     ("POST", "/api/v1/plans"), ("PUT", f"/api/v1/plans/{subscription.plan.code}-month"),
                     ("POST", "/api/v1/plans"), ("PUT", f"/api/v1/plans/{subscription.plan.code}-year"),
                     ("POST", "/api/v1/customers"), ("POST", "/api/v1/subscriptions"),
                     ("DELETE", f"/api/v1/subscriptions/{subscription.pk}")]
    plan = lago.calls[0][2]["plan"]
    assert (plan["interval"], plan["amount_cents"], plan["amount_currency"], plan["pay_in_advance"]) == (
        "monthly", 1900, "EUR", True)
    customer = lago.calls[6][2]["customer"]
    assert customer["external_id"] == str(team.pk) and customer["currency"] == "EUR"
    created = lago.calls[7][2]["subscription"]
    assert (created["external_id"], created["external_customer_id"], created["plan_code"]) == (
        str(subscription.pk), str(team.pk), f"{subscription.plan.code}-month")


def test_webhooks_jwt_replayed_three_times_act_once(lago: FakeLago) -> None:
    _, subscription, _ = team_with_invoice(currency="EUR", amount=1900)
    client = Client()
    body = subscription_webhook("terminated", subscription)
    headers = jwt_headers(body, lago.url, "lago-unique-1")
    answers = [client.post("/webhooks/lago", data=body, content_type="application/json", headers=headers)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["applied"] for a in answers] == [True, False, False]
    assert Subscription.objects.get(pk=subscription.pk).status == "terminated"
    assert AuditEvent.objects.filter(action="subscription.terminated", target_id=str(subscription.pk)).count() == 1
    assert ProcessedWebhook.objects.filter(source="lago").count() == 1


def test_webhooks_tampered_or_foreign_are_rejected(lago: FakeLago) -> None:
    _, subscription, _ = team_with_invoice(currency="EUR", amount=1900)
    client = Client()
    body = subscription_webhook("terminated", subscription)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attempts = {
        "body changed": (body.replace(b"terminated", b"terminatex"), jwt_headers(body, lago.url, "k1")),
        "signed by another key": (body, jwt_headers(body, lago.url, "k2", key=other_key)),
        "another issuer": (body, jwt_headers(body, "https://evil.example", "k3")),
        "hmac while jwt is expected": (body, hmac_headers(body, "k4")),
    }
    for name, (payload, headers) in attempts.items():
        answer = client.post("/webhooks/lago", data=payload, content_type="application/json", headers=headers)
        assert answer.status_code == 400, name
    assert Subscription.objects.get(pk=subscription.pk).status != "terminated"
    assert ProcessedWebhook.objects.filter(source="lago").count() == 0


def test_hmac_webhooks_and_the_public_key_fetched_from_lago(lago: FakeLago, settings) -> None:
    team, subscription, _ = team_with_invoice(currency="EUR", amount=1900)
    settings.LAGO_WEBHOOK_SIGNATURE = "hmac"
    invoice_body = json.dumps({"webhook_type": "invoice.payment_status_updated", "object_type": "invoice",
                               "invoice": {"lago_id": str(uuid.uuid4()), "number": "LAG-202611-001",
                                           "payment_status": "succeeded", "status": "finalized", "currency": "EUR",
                                           "total_amount_cents": 1900,
                                           "customer": {"external_id": str(team.pk)}}}).encode()
    client = Client()
    for _ in range(3):
        answer = client.post("/webhooks/lago", data=invoice_body, content_type="application/json",
                             headers=hmac_headers(invoice_body, "lago-unique-inv"))
        assert answer.status_code == 200
    assert AuditEvent.objects.filter(action="lago.invoice_paid", target_id=str(team.pk)).count() == 1
    forged = invoice_body.replace(b"1900", b"19")
    assert client.post("/webhooks/lago", data=forged, content_type="application/json",
                       headers=hmac_headers(invoice_body, "lago-unique-x")).status_code == 400
    assert client.post("/webhooks/lago", data=invoice_body, content_type="application/json",
                       headers=hmac_headers(invoice_body, "lago-unique-y", key="wrong")).status_code == 400
    # JWT mode without a configured key: fetched once from Lago (json_public_key), then verified.
    engine = LagoEngine(api_url=lago.url, api_key=API_KEY, signature="jwt")
    started = subscription_webhook("started", subscription)
    assert engine.handle_webhook(started, jwt_headers(started, lago.url, "lago-unique-start")) is True
    assert [p for _, p, _ in lago.calls] == ["/api/v1/webhooks/json_public_key"]
    assert AuditEvent.objects.filter(action="lago.subscription_started").count() == 1
    with pytest.raises(InvalidSignature):
        engine.handle_webhook(started, jwt_headers(started + b" ", lago.url, "lago-unique-2"))
    assert client.post("/webhooks/lago", data=b"{}", content_type="application/json").status_code == 400


def test_lago_webhook_is_404_when_lago_is_off(settings) -> None:
    settings.LAGO_API_URL = ""
    assert Client().post("/webhooks/lago", data=b"{}", content_type="application/json").status_code == 404


def test_payment_failure_then_paid_drives_dunning(lago: FakeLago) -> None:
    from tenantry.billing.models import BillingAccount

    team, _, _ = team_with_invoice(currency="EUR", amount=1900)
    failure = json.dumps({"webhook_type": "invoice.payment_failure",
                          "object_type": "payment_provider_invoice_payment_error",
                          "payment_provider_invoice_payment_error": {
                              "lago_invoice_id": str(uuid.uuid4()), "lago_customer_id": str(uuid.uuid4()),
                              "external_customer_id": str(team.pk), "provider_customer_id": "cus_123",
                              "payment_provider": "stripe", "payment_provider_code": "stripe_prod",
                              "provider_error": {"message": "Your card was declined.", "error_code": "card_declined"}},
                          }).encode()
    client = Client()
    for _ in range(3):
        assert client.post("/webhooks/lago", data=failure, content_type="application/json",
                           headers=jwt_headers(failure, lago.url, "lago-fail-1")).status_code == 200
    assert BillingAccount.objects.get(team=team).state == "past_due"
    assert AuditEvent.objects.filter(action="billing_account.engine_payment_failed").count() == 1
    paid = json.dumps({"webhook_type": "invoice.payment_status_updated", "object_type": "invoice",
                       "invoice": {"lago_id": str(uuid.uuid4()), "number": "LAG-1", "payment_status": "succeeded",
                                   "currency": "EUR", "total_amount_cents": 1900,
                                   "customer": {"external_id": str(team.pk)}}}).encode()
    assert client.post("/webhooks/lago", data=paid, content_type="application/json",
                       headers=jwt_headers(paid, lago.url, "lago-paid-1")).status_code == 200
    assert BillingAccount.objects.get(team=team).state == "active"


def test_sync_command(lago: FakeLago, settings) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    _, subscription, _ = team_with_invoice(currency="EUR", amount=1900)
    Subscription.objects.filter(pk=subscription.pk).update(status="active")
    out = StringIO()
    call_command("lago", "sync", stdout=out)
    assert "2 plan(s), 1 subscription(s)" in out.getvalue()
    assert ("POST", "/api/v1/subscriptions") in [(m, p) for m, p, _ in lago.calls]
    settings.LAGO_API_URL = ""
    with pytest.raises(CommandError):
        call_command("lago", "sync")


def _invoice_paid(team_id: object, lago_invoice_id: str) -> bytes:
    return json.dumps({"webhook_type": "invoice.payment_status_updated", "object_type": "invoice",
                       "invoice": {"lago_id": lago_invoice_id, "number": "LAG-7", "payment_status": "succeeded",
                                   "status": "finalized", "currency": "EUR", "total_amount_cents": 1900,
                                   "customer": {"external_id": str(team_id)}}}).encode()


def _invoice_failed(team_id: object, lago_invoice_id: str) -> bytes:
    return json.dumps({"webhook_type": "invoice.payment_failure",
                       "object_type": "payment_provider_invoice_payment_error",
                       "payment_provider_invoice_payment_error": {
                           "lago_invoice_id": lago_invoice_id, "external_customer_id": str(team_id),
                           "payment_provider": "stripe",
                           "provider_error": {"message": "Your card was declined.", "error_code": "card_declined"}},
                       }).encode()


def test_a_captured_paid_event_replayed_with_a_fresh_unique_key_lifts_nothing(lago: FakeLago) -> None:
    """Issue 9, item 11: the dedup key comes from the signed body, not from X-Lago-Unique-Key."""
    from tenantry.billing.models import AccountState, BillingAccount

    team, _, _ = team_with_invoice(currency="EUR", amount=1900)
    client = Client()

    def post(body: bytes, unique_key: str):
        return client.post("/webhooks/lago", data=body, content_type="application/json",
                           headers=jwt_headers(body, lago.url, unique_key))

    first_invoice, second_invoice = str(uuid.uuid4()), str(uuid.uuid4())
    assert post(_invoice_failed(team.pk, first_invoice), "u-1").json()["applied"] is True
    captured = _invoice_paid(team.pk, first_invoice)  # an attacker records this delivery
    assert post(captured, "u-2").json()["applied"] is True
    assert BillingAccount.objects.get(team=team).state == AccountState.ACTIVE
    # A month later the next invoice is not paid and the team ends up suspended.
    assert post(_invoice_failed(team.pk, second_invoice), "u-3").json()["applied"] is True
    BillingAccount.objects.filter(team=team).update(state=AccountState.SUSPENDED)
    # The captured "paid" comes back with a fresh unique key (the header is not signed).
    for fresh in ("u-4", "u-5"):
        answer = post(captured, fresh)
        assert answer.status_code == 200 and answer.json()["applied"] is False
    assert BillingAccount.objects.get(team=team).state == AccountState.SUSPENDED
    assert AuditEvent.objects.filter(action="lago.invoice_paid", target_id=str(team.pk)).count() == 1
    # The event's signed identity is what was recorded.
    assert ProcessedWebhook.objects.filter(
        source="lago", event_id=f"invoice.payment_status_updated:{first_invoice}:succeeded:finalized").count() == 1
    # The genuine "paid" of the second invoice still resumes the team.
    assert post(_invoice_paid(team.pk, second_invoice), "u-6").json()["applied"] is True
    assert BillingAccount.objects.get(team=team).state == AccountState.ACTIVE


def test_lagos_public_key_is_fetched_once_not_per_request(lago: FakeLago, settings) -> None:
    _, subscription, _ = team_with_invoice(currency="EUR", amount=1900)
    settings.LAGO_PUBLIC_KEY = ""  # fetched from Lago
    client = Client()
    bodies = [subscription_webhook("started", subscription), subscription_webhook("terminated", subscription),
              _invoice_paid(subscription.team_id, str(uuid.uuid4()))]
    for index, body in enumerate(bodies):
        answer = client.post("/webhooks/lago", data=body, content_type="application/json",
                             headers=jwt_headers(body, lago.url, f"k-{index}"))
        assert answer.status_code == 200 and answer.json()["applied"] is True
    assert [p for _, p, _ in lago.calls].count("/api/v1/webhooks/json_public_key") == 1
    # A forged body is still refused with the kept key.
    forged = bodies[2].replace(b"succeeded", b"succeedex")
    assert client.post("/webhooks/lago", data=forged, content_type="application/json",
                       headers=jwt_headers(bodies[2], lago.url, "k-9")).status_code == 400
