"""Inbound webhooks: `POST /webhooks/<provider>` for payment providers, `POST /webhooks/lago`.

The signature is checked before anything else; a tampered, replayed or unsigned request gets a
400 and a log line and is never acted on. Authentic events are applied in one transaction that
also records their id, so a provider retrying (or an attacker replaying within the window) ends
in the same single state change.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tenantry.billing.providers.base import InvalidSignature, get_provider, provider_names
from tenantry.billing.services.payments import payment_apply_event
from tenantry.ops.services import webhook_rejection_record

logger = logging.getLogger(__name__)

# Providers without callbacks have no endpoint at all.
_NO_CALLBACKS = {"manual"}


def _rejected(source: str, request: HttpRequest, reason: str) -> HttpResponse:
    logger.warning("webhook rejected", extra={"source": source, "reason": reason,
                                              "remote_addr": request.META.get("REMOTE_ADDR", "")})
    webhook_rejection_record(source=source, reason=reason)  # alerted on: tenantry_webhook_failures_total
    return JsonResponse({"code": "invalid_signature", "message": "Signature verification failed."}, status=400)


@csrf_exempt
@require_POST
def provider_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    if provider in _NO_CALLBACKS or provider not in provider_names():
        return JsonResponse({"code": "not_found", "message": "No such webhook."}, status=404)
    backend = get_provider(provider)
    try:
        event = backend.parse_callback(request.body, request.headers, timezone.now())
    except InvalidSignature as exc:
        return _rejected(provider, request, str(exc))
    if event is None:
        return JsonResponse({"received": True, "applied": False})
    payment = payment_apply_event(provider=provider, event=event)
    return JsonResponse({"received": True, "applied": payment is not None})


@csrf_exempt
@require_POST
def lago_webhook(request: HttpRequest) -> HttpResponse:
    from tenantry.billing.engines.lago import LagoEngine, LagoNotConfigured

    try:
        engine = LagoEngine.from_settings()
    except LagoNotConfigured:
        return JsonResponse({"code": "not_found", "message": "Lago is not enabled."}, status=404)
    try:
        applied = engine.handle_webhook(request.body, request.headers)
    except InvalidSignature as exc:
        return _rejected("lago", request, str(exc))
    return JsonResponse({"received": True, "applied": applied})
