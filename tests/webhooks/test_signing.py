"""Standard Webhooks signatures: the spec's own test vector, and what verification refuses."""

from __future__ import annotations

import base64

import pytest

from tenantry.webhooks.signing import WebhookVerificationError, generate_secret, sign, signed_headers, verify

# The reference vector of the Standard Webhooks libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_reference_vector():
    assert sign(secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY) == EXPECTED
    verify(secret=SECRET, headers={"Webhook-Id": MSG_ID, "Webhook-Timestamp": str(TIMESTAMP),
                                   "Webhook-Signature": f"v1,bm9wZQ== {EXPECTED}"}, body=BODY, now=TIMESTAMP + 10)


def test_generated_secret_is_whsec_base64():
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert generate_secret() != secret


@pytest.mark.parametrize("change", ["body", "secret", "old", "future", "missing", "version"])
def test_verification_refuses(change):
    headers = signed_headers(secret=SECRET, msg_id=MSG_ID, body=BODY, timestamp=TIMESTAMP)
    secret, body, now = SECRET, BODY, TIMESTAMP + 1
    if change == "body":
        body = BODY + b" "
    elif change == "secret":
        secret = generate_secret()
    elif change == "old":
        now = TIMESTAMP + 301
    elif change == "future":
        now = TIMESTAMP - 301
    elif change == "missing":
        del headers["webhook-signature"]
    elif change == "version":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(WebhookVerificationError):
        verify(secret=secret, headers=headers, body=body, now=now)
