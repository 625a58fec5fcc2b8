"""Mobile Money through an HTTP payment gateway (the pricing seed's external payment backend).

The protocol (implemented by `tenantry.billing.gateway_reference` for development and tests):

- `POST /v1/payments` {reference, amount (minor units), currency, phone, description,
  callback_url, metadata} with `Authorization: Bearer <api key>` -> the payment, `pending`;
  the customer confirms on the phone. Idempotent on `reference`.
- `GET /v1/payments/{id}`, `POST /v1/payments/{id}/cancel`.
- The gateway then POSTs a callback to `callback_url`: JSON {event_id, type, payment}, signed
  `X-Gateway-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with the Unix time
  in `X-Gateway-Timestamp`. Callbacks older (or newer) than the replay window are refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import requests

from tenantry.billing.providers.base import (
    CANCELLED,
    FAILED,
    PENDING,
    PROCESSING,
    STATUSES,
    SUCCEEDED,
    BackendError,
    InvalidSignature,
    PaymentEvent,
    PaymentProvider,
    PaymentRequest,
    ProviderPayment,
    TransientBackendError,
    header,
)

TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
REPLAY_WINDOW_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a callback body sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: dt.datetime,
           window: int = REPLAY_WINDOW_SECONDS) -> None:
    """Raise InvalidSignature unless the body is signed with `secret` within the window."""
    raw_ts, raw_sig = header(headers, TIMESTAMP_HEADER), header(headers, SIGNATURE_HEADER)
    if not raw_ts or not raw_sig:
        raise InvalidSignature("missing gateway signature headers")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise InvalidSignature("malformed gateway timestamp") from None
    expected = sign(secret, timestamp, body)
    # Several "v1=" values may be sent while the gateway rotates its secret.
    candidates = [part.strip() for part in raw_sig.split(",")]
    if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
        raise InvalidSignature("gateway signature does not match")
    if abs(now.timestamp() - timestamp) > window:
        raise InvalidSignature("gateway callback outside the replay window")


class GatewayProvider(PaymentProvider):
    methods = ("mobile_money",)

    def __init__(self, *, alias: str = "gateway", base_url: str = "http://127.0.0.1:8090", api_key: str = "",
                 webhook_secret: str = "", timeout: float = 10, replay_window: int = REPLAY_WINDOW_SECONDS,
                 **options: Any):
        super().__init__(alias=alias)
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self.timeout = timeout
        self.replay_window = replay_window
        self._session = requests.Session()
        self._session.trust_env = False  # never route payment traffic through an ambient proxy

    def __repr__(self) -> str:
        return f"<GatewayProvider {self.alias} {self.base_url}>"

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._session.request(method, f"{self.base_url}{path}", json=payload, timeout=self.timeout,
                                             headers={"Authorization": f"Bearer {self._api_key}"})
        except requests.RequestException as exc:
            raise TransientBackendError(f"payment gateway unreachable ({exc.__class__.__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientBackendError(f"payment gateway unavailable (HTTP {response.status_code})")
        try:
            data = response.json()
        except ValueError:
            raise BackendError(f"payment gateway answered HTTP {response.status_code} without JSON") from None
        if response.status_code >= 400:
            code = str(data.get("code") or "gateway_error") if isinstance(data, dict) else "gateway_error"
            message = str(data.get("message", "")) if isinstance(data, dict) else ""
            raise BackendError(f"payment gateway refused: {message or code} (HTTP {response.status_code})",
                               code=code)
        if not isinstance(data, dict):
            raise BackendError("payment gateway answered with unexpected JSON")
        return data

    def initiate(self, request: PaymentRequest, *, method: str) -> ProviderPayment:
        if method != "mobile_money":
            raise BackendError(f"the gateway does not take {method!r} payments", code="unsupported_method")
        if not request.phone:
            raise BackendError("a phone number is required for Mobile Money", code="phone_required")
        data = self._call("POST", "/v1/payments", {
            "reference": request.reference, "amount": request.amount_minor, "currency": request.currency,
            "phone": request.phone, "description": request.description, "callback_url": request.callback_url,
            "metadata": dict(request.metadata),
        })
        return _payment(data)

    def fetch(self, provider_reference: str) -> ProviderPayment:
        return _payment(self._call("GET", f"/v1/payments/{_safe(provider_reference)}"))

    def charge_again(self, request: PaymentRequest, *, method: str, previous_reference: str) -> ProviderPayment:
        # Mobile Money has no stored authorisation: a new prompt goes to the customer's phone and
        # the customer confirms it (or not). The caller tells them so.
        return self.initiate(request, method=method)

    def lookup(self, reference: str) -> ProviderPayment | None:
        try:
            return _payment(self._call("GET", f"/v1/payments/by-reference/{_safe(reference)}"))
        except BackendError as exc:
            if exc.code == "not_found":
                return None
            raise

    def cancel(self, provider_reference: str) -> ProviderPayment:
        return _payment(self._call("POST", f"/v1/payments/{_safe(provider_reference)}/cancel"))

    def parse_callback(self, body: bytes, headers: Mapping[str, str], now: dt.datetime) -> PaymentEvent | None:
        if not self._webhook_secret:
            raise InvalidSignature("no gateway webhook secret is configured")
        verify(self._webhook_secret, body, headers, now, self.replay_window)
        try:
            data = json.loads(body)
            payment = data["payment"]
            status = str(payment["status"])
            if status not in STATUSES:
                raise ValueError(status)
            return PaymentEvent(
                event_id=str(data["event_id"]), event_type=str(data.get("type", "")),
                provider_reference=str(payment["id"]), payment_reference=str(payment.get("reference", "")),
                status=status, amount_minor=int(payment["amount"]), currency=str(payment["currency"]).upper(),
                occurred_at=dt.datetime.fromtimestamp(int(header(headers, TIMESTAMP_HEADER)), tz=dt.UTC),
                failure_message=str(payment.get("failure_message", "")), raw=data)
        except (KeyError, TypeError, ValueError) as exc:
            # Signed by the gateway yet unreadable: a protocol error, not something to act on.
            raise InvalidSignature(f"malformed gateway callback ({exc.__class__.__name__})") from None


def _safe(reference: str) -> str:
    if not reference or not all(c.isalnum() or c in "-_" for c in reference):
        raise BackendError("invalid gateway payment reference", code="invalid_reference")
    return reference


def _payment(data: Mapping[str, Any]) -> ProviderPayment:
    status = str(data.get("status", ""))
    if status not in (PENDING, PROCESSING, SUCCEEDED, FAILED, CANCELLED):
        raise BackendError(f"payment gateway returned an unknown status {status!r}")
    details = {"phone_url": str(data["phone_url"])} if data.get("phone_url") else {}
    amount = data.get("amount")
    return ProviderPayment(provider_reference=str(data["id"]), status=status,
                           instructions=str(data.get("instructions", "")), details=details,
                           amount_minor=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
                           currency=str(data.get("currency") or "").upper())
