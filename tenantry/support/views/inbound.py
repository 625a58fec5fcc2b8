"""A provider's inbound-mail webhook: the provider receives the reply and POSTs it here.

The format is Mailgun's (routes that forward to a URL ending in `mime`): form fields
`body-mime` (the whole message), `recipient`, `sender`, and the signature fields `timestamp`,
`token`, `signature` = hex HMAC-SHA256 of timestamp+token with the signing key
(TENANTRY_SUPPORT_INBOUND_WEBHOOK_KEY). Other providers (SendGrid's raw Inbound Parse, Postmark
via a small relay) can post the same fields. Answers: 200 added, 403 bad signature, 406 refused
(the provider must not retry), 404 while no key is set.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tenantry.core.errors import ApplicationError
from tenantry.support.inbound import receive_email

MAX_SKEW_SECONDS = 15 * 60


def signature_valid(key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


@csrf_exempt
@require_POST
def inbound_webhook(request: HttpRequest) -> JsonResponse:
    key = str(settings.TENANTRY_SUPPORT["INBOUND_WEBHOOK_KEY"])
    if not key:
        return JsonResponse({"code": "not_found", "message": "Inbound webhook is not enabled."}, status=404)
    timestamp = request.POST.get("timestamp", "")
    if not (timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_SKEW_SECONDS
            and signature_valid(key, timestamp, request.POST.get("token", ""), request.POST.get("signature", ""))):
        return JsonResponse({"code": "invalid_signature", "message": "Signature missing, wrong or too old."},
                            status=403)
    raw = request.POST.get("body-mime", "")
    if not raw:
        return JsonResponse({"code": "invalid_input", "message": "body-mime is required."}, status=406)
    recipients = [r.strip() for r in request.POST.get("recipient", "").split(",") if r.strip()]
    try:
        message = receive_email(raw.encode(), recipients=recipients, envelope_from=request.POST.get("sender") or None,
                                via="email")
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=406)
    return JsonResponse({"ticket_id": str(message.ticket_id), "message_id": str(message.pk)})
