"""A small Mobile Money gateway for development and tests (`tenantry payment-gateway`).

It speaks the protocol that `tenantry.billing.providers.gateway` expects: API-key auth, payments
initiated `pending`, a "phone" page (`/phone/<id>?token=…`) where the customer confirms or
declines, then a signed callback to the merchant, retried with backoff until it is accepted.
Standard library only (http.server + sqlite3), so it runs anywhere the project runs.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tenantry.billing.gateway_reference.state import GatewayError, Ledger, format_amount, public_view
from tenantry.billing.providers.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

logger = logging.getLogger(__name__)
# The merchant's own reference (our payment id): how a merchant whose create call timed out learns
# whether the gateway received it.
BY_REFERENCE_ROUTE = re.compile(r"^/v1/payments/by-reference/(?P<reference>[A-Za-z0-9_-]{1,100})$")
ROUTE = re.compile(r"^/v1/payments/(?P<id>mm_[0-9a-f]+)(?:/(?P<action>cancel|confirm|decline))?$")
PHONE_ROUTE = re.compile(r"^/phone/(?P<id>mm_[0-9a-f]+)$")
DEFAULT_RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30, 60)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, *, api_key: str, webhook_secret: str, db_path: str = ":memory:",
                 retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS, public_url: str = ""):
        super().__init__((host, port), _Handler)
        self.api_key, self.webhook_secret = api_key, webhook_secret
        self.ledger = Ledger(db_path)
        self.retry_delays = tuple(retry_delays)
        self.url = public_url.rstrip("/") or f"http://{host}:{self.server_address[1]}"
        self._http = requests.Session()
        self._http.trust_env = False
        self._stopping = threading.Event()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="payment-gateway", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopping.set()  # pending deliveries give up instead of writing to a closed ledger
        self.shutdown()
        self.server_close()
        self.ledger.close()

    # --- state changes ----------------------------------------------------------------------

    def settle(self, payment_id: str, status: str) -> dict[str, Any]:
        failure = "The customer declined the payment." if status == "failed" else ""
        row = self.ledger.transition(payment_id, status, failure)
        threading.Thread(target=self.deliver, args=(row,), daemon=True).start()
        return row

    def deliver(self, row: dict[str, Any]) -> bool:
        """POST the signed callback, retrying with backoff; the event id stays the same across
        attempts (the merchant deduplicates on it), the timestamp and signature are fresh."""
        body = json.dumps({"event_id": "evt_" + uuid.uuid4().hex, "type": f"payment.{row['status']}",
                           "payment": public_view(row, self.url)}, separators=(",", ":")).encode()
        for attempt, delay in enumerate((0, *self.retry_delays)):
            if self._stopping.wait(delay):
                return False
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                       SIGNATURE_HEADER: sign(self.webhook_secret, timestamp, body)}
            try:
                response = self._http.post(row["callback_url"], data=body, headers=headers, timeout=10)
                delivered = response.status_code < 300
            except requests.RequestException as exc:
                delivered = False
                logger.info("callback attempt %d for %s failed: %s", attempt + 1, row["id"], exc.__class__.__name__)
            if self._stopping.is_set():
                return False
            self.ledger.record_attempt(row["id"], delivered)
            if delivered:
                return True
        return False


class _Handler(BaseHTTPRequestHandler):
    server: GatewayServer
    server_version = "TenantryReferenceGateway/1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("gateway: " + format, *args)

    # --- plumbing ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _html(self, status: int, title: str, content: str) -> None:
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                "<meta name='viewport' content='width=device-width'><style>body{font-family:sans-serif;"
                "max-width:22rem;margin:2rem auto;padding:1rem;border:8px solid #222;border-radius:2rem}"
                "button{font-size:1.2rem;margin:.3rem;padding:.5rem 1rem}</style></head>"
                f"<body><h1>{html.escape(title)}</h1>{content}</body></html>")
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 1_000_000)) if length else b""

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.server.api_key}".encode())

    def _guard(self, handler: Any, *args: Any) -> None:
        try:
            handler(*args)
        except GatewayError as exc:
            self._json(exc.status, {"code": exc.code, "message": exc.message})

    # --- routes -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self._json(200, {"status": "ok"})
        if match := PHONE_ROUTE.match(url.path):
            return self._guard(self._phone_page, match["id"], parse_qs(url.query).get("token", [""])[0])
        if by_reference := BY_REFERENCE_ROUTE.match(url.path):
            if not self._authorized():
                return self._json(401, {"code": "unauthorized", "message": "a valid API key is required"})
            return self._guard(lambda: self._json(200, public_view(
                self.server.ledger.by_reference(by_reference["reference"]), self.server.url)))
        match = ROUTE.match(url.path)
        if not match or match["action"]:
            return self._json(404, {"code": "not_found", "message": "no such route"})
        if not self._authorized():
            return self._json(401, {"code": "unauthorized", "message": "a valid API key is required"})
        self._guard(lambda: self._json(200, public_view(self.server.ledger.get(match["id"]), self.server.url)))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/v1/payments":
            if not self._authorized():
                return self._json(401, {"code": "unauthorized", "message": "a valid API key is required"})
            return self._guard(self._create, body)
        match = ROUTE.match(path)
        if not match or not match["action"]:
            return self._json(404, {"code": "not_found", "message": "no such route"})
        self._guard(self._act, match["id"], match["action"], body)

    def _create(self, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise GatewayError(400, "invalid_json", "the body must be JSON") from None
        if not isinstance(data, dict):
            raise GatewayError(400, "invalid_json", "the body must be a JSON object")
        row, created = self.server.ledger.create(data)
        self._json(201 if created else 200, public_view(row, self.server.url))

    def _act(self, payment_id: str, action: str, body: bytes) -> None:
        from_phone = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        token = parse_qs(body.decode(errors="replace")).get("token", [""])[0] if from_phone else ""
        row = self.server.ledger.get(payment_id)
        # The customer's phone proves itself with the page's token; the merchant with its API key
        # (only to cancel: confirming is the customer's decision).
        phone_ok = bool(token) and hmac.compare_digest(token.encode(), row["phone_token"].encode())
        if action == "cancel" and not self._authorized():
            raise GatewayError(401, "unauthorized", "a valid API key is required")
        if action != "cancel" and not (phone_ok or self._authorized()):
            raise GatewayError(403, "forbidden", "only the customer's phone can confirm or decline")
        status = {"cancel": "cancelled", "confirm": "succeeded", "decline": "failed"}[action]
        if from_phone:
            try:
                self.server.settle(payment_id, status)
            except GatewayError as exc:
                return self._html(exc.status, "Payment", f"<p id='result'>{html.escape(exc.message)}</p>")
            verb = "confirmed" if status == "succeeded" else "declined"
            return self._html(200, "Payment", f"<p id='result'>Payment {verb}. You can close this page.</p>")
        self._json(200, public_view(self.server.settle(payment_id, status), self.server.url))

    def _phone_page(self, payment_id: str, token: str) -> None:
        row = self.server.ledger.get(payment_id)
        if not token or not hmac.compare_digest(token.encode(), row["phone_token"].encode()):
            raise GatewayError(403, "forbidden", "invalid phone token")
        if row["status"] != "pending":
            return self._html(200, "Payment", f"<p id='result'>This payment is {html.escape(row['status'])}.</p>")
        amount = html.escape(format_amount(row["amount"], row["currency"]))
        hidden = f"<input type='hidden' name='token' value='{html.escape(token)}'>"
        forms = "".join(
            f"<form method='post' action='/v1/payments/{payment_id}/{action}' style='display:inline'>{hidden}"
            f"<button type='submit' id='{action}'>{label}</button></form>"
            for action, label in (("confirm", "Confirm"), ("decline", "Decline")))
        self._html(200, "Mobile Money", f"<p>Pay <strong id='amount'>{amount}</strong> for "
                   f"{html.escape(row['description'])}?</p>{forms}")
