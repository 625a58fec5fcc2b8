"""Sending an endpoint's deliveries: one at a time, in order, retried with backoff.

At least once, in order per endpoint: a worker claims the endpoint (a lease on the row), sends
its oldest pending delivery, and moves to the next only once that one succeeded. A failure
schedules a retry (TENANTRY_WEBHOOKS_RETRY_SCHEDULE) and holds the queue behind it; a delivery
still failing after the retry window (TENANTRY_WEBHOOKS_RETRY_FOR_SECONDS, 3 days) is given up,
the endpoint disabled and its team told. A worker that dies mid-way loses its lease and the
next one sends again (at least once: receivers deduplicate by `webhook-id`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenantry.core.audit import audit_log
from tenantry.core.crypto import decrypt
from tenantry.core.logging import get_logger
from tenantry.events.services import emit
from tenantry.webhooks import transport
from tenantry.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenantry.webhooks.signing import signed_headers

log = get_logger(__name__)


def _conf(name: str) -> object:
    return settings.TENANTRY_WEBHOOKS[name]


def _lease() -> timedelta:
    return timedelta(seconds=float(_conf("TIMEOUT_SECONDS")) + 30)  # type: ignore[arg-type]


def _claim(endpoint_id: str) -> datetime | None:
    now = timezone.now()
    until = now + _lease()
    claimed = WebhookEndpoint.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), pk=endpoint_id, enabled=True,
    ).update(claimed_until=until)
    return until if claimed else None


def _renew(endpoint_id: str, held: datetime) -> datetime | None:
    until = timezone.now() + _lease()
    renewed = WebhookEndpoint.objects.filter(pk=endpoint_id, claimed_until=held, enabled=True).update(
        claimed_until=until)
    return until if renewed else None


def _release(endpoint_id: str, held: datetime) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, claimed_until=held).update(claimed_until=None)


def _next_pending(endpoint_id: str) -> WebhookDelivery | None:
    return (WebhookDelivery.objects.select_related("event", "endpoint")
            .filter(endpoint__pk=endpoint_id, status=DeliveryStatus.PENDING).order_by("id").first())


def deliver_endpoint(endpoint_id: str) -> datetime | None:
    """Send what is due for this endpoint. Returns when to come back (the next retry), if ever."""
    while True:
        held = _claim(endpoint_id)
        if held is None:
            return None  # disabled, deleted, or another worker is sending (it loops until empty)
        try:
            held, come_back = _drain(endpoint_id, held)
        finally:
            if held is not None:
                _release(endpoint_id, held)
        if come_back is not None or held is None:
            return come_back
        # Released: a delivery queued while we held the claim found it taken; look once more.
        delivery = _next_pending(endpoint_id)
        if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > timezone.now()):
            return delivery.next_attempt_at if delivery else None


def _drain(endpoint_id: str, held: datetime) -> tuple[datetime | None, datetime | None]:
    """(the claim still held or None when lost, when to come back or None)."""
    while True:
        delivery = _next_pending(endpoint_id)
        if delivery is None:
            return held, None
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now():
            return held, delivery.next_attempt_at
        renewed = _renew(endpoint_id, held)
        if renewed is None:
            return None, None
        held = renewed
        if not _attempt(delivery):
            delivery.refresh_from_db(fields=["status", "next_attempt_at"])
            return held, delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None


def _retry_delay(attempts: int) -> float:
    schedule = list(_conf("RETRY_SCHEDULE"))  # type: ignore[call-overload]
    return float(schedule[min(attempts - 1, len(schedule) - 1)])


def _attempt(delivery: WebhookDelivery) -> bool:
    endpoint, event = delivery.endpoint, delivery.event
    body = json.dumps(event.envelope(), separators=(",", ":"), sort_keys=True).encode()
    headers = signed_headers(secret=decrypt(endpoint.secret_ciphertext), msg_id=event.public_id, body=body)
    now = timezone.now()
    result = transport.post(endpoint.url, body=body, headers=headers,
                            timeout=float(_conf("TIMEOUT_SECONDS")))  # type: ignore[arg-type]
    ok = result.ok and not result.error
    number = delivery.attempts + 1
    first = delivery.first_attempt_at or now
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, sent_at=now, duration_ms=result.duration_ms,
            request_headers={**headers, "content-type": "application/json"},
            request_body=body.decode()[:65536], response_status=result.status,
            response_headers=dict(list(result.headers.items())[:50]), response_body=result.body,
            error=result.error[:500])
        fields: dict[str, object] = {"attempts": number, "first_attempt_at": first}
        if ok:
            fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=timezone.now(), next_attempt_at=None)
        else:
            window_end = first + timedelta(seconds=float(_conf("RETRY_FOR_SECONDS")))  # type: ignore[arg-type]
            later = timezone.now() + timedelta(seconds=_retry_delay(number))
            if timezone.now() >= window_end:
                fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
            else:
                fields["next_attempt_at"] = min(later, window_end)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if fields.get("status") == DeliveryStatus.FAILED:
            _disable(endpoint, f"Deliveries failed for {_conf('RETRY_FOR_SECONDS')} s "
                               f"(last: {result.error or f'HTTP {result.status}'})")
    log.info("webhook.attempt", endpoint=str(endpoint.pk), delivery=delivery.pk, event_type=event.type,
             attempt=number, status=result.status, error=result.error[:100], ok=ok)
    return ok


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Persistent failure: stop sending (what waits stays queued for when it is enabled again)
    and tell the team's owners and admins."""
    now = timezone.now()
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now)
    if not updated:
        return
    audit_log(actor="worker", action="webhook_endpoint.disabled", target=endpoint, data={"reason": reason[:300]})
    emit("webhook_endpoint.disabled", team=endpoint.team,
         data={"endpoint_id": str(endpoint.pk), "url": endpoint.url, "reason": reason[:300]})
    log.warning("webhook.endpoint_disabled", endpoint=str(endpoint.pk), reason=reason[:200])


def due_endpoints() -> list[str]:
    """Endpoints with a delivery due now (for the periodic sweep)."""
    now = timezone.now()
    return [str(pk) for pk in WebhookDelivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=DeliveryStatus.PENDING,
        endpoint__enabled=True).values_list("endpoint_id", flat=True).distinct()]
