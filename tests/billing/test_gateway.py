"""Contract test: the Mobile Money provider against the real reference gateway over 127.0.0.1,
with a real HTTP receiver for the signed callbacks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import requests

from tenantry.billing.gateway_reference.server import GatewayServer
from tenantry.billing.providers.base import BackendError, InvalidSignature, PaymentRequest
from tenantry.billing.providers.gateway import GatewayProvider, sign, verify
from tests.conftest import wait_for
from tests.http_stub import BackgroundServer, QuietHandler

API_KEY, SECRET = "gw-test-key", "gw-test-secret"


class Receiver(BackgroundServer):
    """Collects callbacks; answers 500 to the first `fail_first` to exercise the retries."""

    def __init__(self, fail_first: int = 0):
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers.items()), body))
                self.send_response(500 if len(receiver.calls) <= receiver.fail_first else 204)
                self.end_headers()

        receiver = self
        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks/gateway"


@pytest.fixture
def gateway() -> Iterator[GatewayServer]:
    server = GatewayServer("127.0.0.1", 0, api_key=API_KEY, webhook_secret=SECRET, retry_delays=(0.05, 0.05, 0.1))
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=2)
    yield server
    server.shutdown()
    server.server_close()


def _provider(gateway: GatewayServer, **overrides: str) -> GatewayProvider:
    options = {"base_url": gateway.url, "api_key": API_KEY, "webhook_secret": SECRET, **overrides}
    return GatewayProvider(alias="gateway", **options)  # type: ignore[arg-type]


def _request(receiver: Receiver, reference: str = "pay-1", amount: int = 5000) -> PaymentRequest:
    return PaymentRequest(reference=reference, amount_minor=amount, currency="XOF", description="Starter monthly",
                          phone="+22507000001", callback_url=receiver.url, metadata={"invoice_number": "F-1"})


def test_initiate_confirm_callback_roundtrip(gateway: GatewayServer, receiver: Receiver) -> None:
    provider = _provider(gateway)
    payment = provider.initiate(_request(receiver), method="mobile_money")
    assert payment.status == "pending"
    assert "5,000 XOF" in payment.instructions and "on your phone" in payment.instructions
    assert payment.details["phone_url"].startswith(f"{gateway.url}/phone/{payment.provider_reference}?token=")
    # A repeated initiate (a retry after a timeout) is the same payment, not a second charge.
    assert provider.initiate(_request(receiver), method="mobile_money").provider_reference == payment.provider_reference

    # The customer opens the phone page and confirms, as a browser would.
    page = requests.get(payment.details["phone_url"], timeout=5)
    assert "5,000 XOF" in page.text and "confirm" in page.text
    token = payment.details["phone_url"].split("token=")[1]
    done = requests.post(f"{gateway.url}/v1/payments/{payment.provider_reference}/confirm", data={"token": token},
                         timeout=5)
    assert "Payment confirmed" in done.text
    assert provider.fetch(payment.provider_reference).status == "succeeded"

    # Two failed deliveries, then accepted: three attempts, the same event id each time.
    wait_for(lambda: len(receiver.calls) == 3, timeout=5, what="three callback attempts")
    event_ids = {json.loads(body)["event_id"] for _, body in receiver.calls}
    assert len(event_ids) == 1
    headers, body = receiver.calls[-1]
    event = provider.parse_callback(body, headers, dt.datetime.now(dt.UTC))
    assert event is not None
    assert (event.status, event.amount_minor, event.currency) == ("succeeded", 5000, "XOF")
    assert event.provider_reference == payment.provider_reference and event.payment_reference == "pay-1"
    assert event.event_id in event_ids
    wait_for(lambda: requests.get(f"{gateway.url}/v1/payments/{payment.provider_reference}", timeout=5,
                                  headers={"Authorization": f"Bearer {API_KEY}"}).json()["callback"]["delivered"],
             timeout=5, what="delivery recorded")
    # Settled: neither cancel nor a second confirm changes it.
    with pytest.raises(BackendError) as excinfo:
        provider.cancel(payment.provider_reference)
    assert excinfo.value.code == "not_pending"


def test_decline_and_cancel(gateway: GatewayServer, receiver: Receiver) -> None:
    provider = _provider(gateway)
    declined = provider.initiate(_request(receiver, "pay-2"), method="mobile_money")
    token = declined.details["phone_url"].split("token=")[1]
    requests.post(f"{gateway.url}/v1/payments/{declined.provider_reference}/decline", data={"token": token},
                  timeout=5)
    assert provider.fetch(declined.provider_reference).status == "failed"
    pending = provider.initiate(_request(receiver, "pay-3"), method="mobile_money")
    assert provider.cancel(pending.provider_reference).status == "cancelled"
    assert provider.fetch(pending.provider_reference).status == "cancelled"


def test_gateway_refuses_bad_input_and_bad_keys(gateway: GatewayServer, receiver: Receiver) -> None:
    provider = _provider(gateway)
    with pytest.raises(BackendError) as excinfo:
        provider.initiate(_request(receiver, "neg", amount=-5), method="mobile_money")
    assert excinfo.value.code == "invalid_amount"
    provider.initiate(_request(receiver, "same"), method="mobile_money")
    with pytest.raises(BackendError) as excinfo:
        provider.initiate(_request(receiver, "same", amount=9999), method="mobile_money")
    assert excinfo.value.code == "reference_reused"
    with pytest.raises(BackendError) as excinfo:
        _provider(gateway, api_key="wrong").initiate(_request(receiver, "x"), method="mobile_money")
    assert excinfo.value.code == "unauthorized"
    # Confirming needs the phone's token: not a guess, not nothing.
    pending = provider.initiate(_request(receiver, "pay-4"), method="mobile_money")
    forged = requests.post(f"{gateway.url}/v1/payments/{pending.provider_reference}/confirm",
                           data={"token": "guess"}, timeout=5)
    assert forged.status_code == 403
    assert provider.fetch(pending.provider_reference).status == "pending"


def test_unreachable_gateway_is_transient() -> None:
    from tenantry.billing.providers.base import TransientBackendError

    provider = GatewayProvider(base_url="http://127.0.0.1:9", api_key=API_KEY, webhook_secret=SECRET, timeout=2)
    with pytest.raises(TransientBackendError):
        provider.fetch("mm_00")


def test_callback_signature_checks() -> None:
    body = json.dumps({"event_id": "evt_1", "type": "payment.succeeded", "payment": {
        "id": "mm_1", "reference": "r", "status": "succeeded", "amount": 100, "currency": "EUR"}}).encode()
    now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    ts = int(now.timestamp())
    good = {"X-Gateway-Timestamp": str(ts), "X-Gateway-Signature": sign(SECRET, ts, body)}
    verify(SECRET, body, good, now)
    provider = GatewayProvider(webhook_secret=SECRET)
    event = provider.parse_callback(body, {k.lower(): v for k, v in good.items()}, now)
    assert event is not None and event.event_id == "evt_1" and event.occurred_at == now
    cases = {
        "tampered body": (body.replace(b"100", b"1"), good, now),
        "other secret": (body, {**good, "X-Gateway-Signature": sign("other", ts, body)}, now),
        "no signature": (body, {"X-Gateway-Timestamp": str(ts)}, now),
        "replayed 6 min later": (body, good, now + dt.timedelta(minutes=6)),
        "from the future": (body, good, now - dt.timedelta(minutes=6)),
        "timestamp swapped": (body, {**good, "X-Gateway-Timestamp": str(ts + 1)}, now),
    }
    for name, (payload, headers, at) in cases.items():
        with pytest.raises(InvalidSignature):
            provider.parse_callback(payload, headers, at)
            pytest.fail(f"accepted: {name}")
    # Within the window, a few seconds of clock skew is fine.
    assert provider.parse_callback(body, good, now + dt.timedelta(minutes=4)) is not None


def test_payment_gateway_command_serves_and_keeps_its_ledger(tmp_path) -> None:
    """`tenantry payment-gateway` as a process: API-key auth, state kept in its SQLite file."""
    import os
    import signal
    import subprocess
    import sys

    from tests.testenv import free_port

    port = free_port()
    env = {**os.environ, "TENANTRY_GATEWAY_API_KEY": "cli-key", "TENANTRY_GATEWAY_WEBHOOK_SECRET": "cli-secret"}
    command = [sys.executable, "-m", "tenantry.cli", "payment-gateway", "--port", str(port),
               "--db", str(tmp_path / "gateway.sqlite3")]
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer cli-key"}

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    created = None
    for _ in range(2):  # the second run must see what the first one stored
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for(up, timeout=20, what="the reference gateway")
            if created is None:
                assert requests.post(f"{base}/v1/payments", json={}, timeout=5).status_code == 401
                answer = requests.post(f"{base}/v1/payments", headers=auth, timeout=5, json={
                    "reference": "cli-1", "amount": 2500, "currency": "XAF", "phone": "+23767000000",
                    "callback_url": "http://127.0.0.1:9/none"})
                assert answer.status_code == 201
                created = answer.json()
            else:
                again = requests.get(f"{base}/v1/payments/{created['id']}", headers=auth, timeout=5).json()
                assert (again["status"], again["amount"], again["currency"]) == ("pending", 2500, "XAF")
        finally:
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=10)[0].decode()
    assert f"Reference payment gateway on {base}" in output
