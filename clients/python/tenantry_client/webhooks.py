"""Verify Tenantry's webhook deliveries (Standard Webhooks, https://www.standardwebhooks.com/).

The same code as the control plane's `tenantry/webhooks/signing.py` (the SDK's tests check that
a delivery Tenantry signed verifies here):

    from tenantry_client import verify_webhook, WebhookVerificationError
    verify_webhook(secret="whsec_…", headers=request.headers, body=request.body)  # raises if forged

Headers: `webhook-id` (the message id, the same on every retry), `webhook-timestamp` (Unix
seconds of this attempt), `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
`"<id>.<timestamp>.<body>"`, space-separated when several). The secret is `whsec_<base64 key>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    pass


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookVerificationError("a Standard Webhooks secret starts with 'whsec_'")
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError as exc:
        raise WebhookVerificationError("the secret is not valid base64") from exc


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)}


def verify(*, secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> None:
    """Raise WebhookVerificationError unless the request is signed with `secret` and recent.
    `headers` may use any case; `body` is the raw request body, exactly as received."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, stamp, signatures = lower["webhook-id"], lower["webhook-timestamp"], lower["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new")
    expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body).split(",", 1)[1]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise WebhookVerificationError("no matching signature")


verify_webhook = verify
