"""Endpoints a team registers, and replaying a delivery. Sending is in delivery.py."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.core.audit import audit_log
from tenantry.core.crypto import encrypt
from tenantry.core.errors import Conflict, ValidationError
from tenantry.events.catalog import WEBHOOK_EVENT_TYPES, is_valid_filter
from tenantry.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tenantry.webhooks.signing import generate_secret
from tenantry.webhooks.transport import resolve_safe

MAX_ENDPOINTS_PER_TEAM = 20


def _clean_event_types(event_types: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(t.strip() for t in event_types if t and t.strip()))
    if not cleaned:
        raise ValidationError("Choose at least one event type (e.g. instance.* or *).",
                              code="webhook_event_types_required", details={"field": "event_types"})
    unknown = [t for t in cleaned if not is_valid_filter(t)]
    if unknown:
        raise ValidationError(f"Unknown event type(s): {', '.join(unknown)}.", code="webhook_event_type_unknown",
                              details={"field": "event_types", "unknown": unknown,
                                       "known": WEBHOOK_EVENT_TYPES})
    return cleaned


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    if len(url) > 2000:
        raise ValidationError("The endpoint URL is too long.", code="webhook_url_invalid", details={"field": "url"})
    resolve_safe(url)  # refuses bad syntax, unresolvable hosts and private addresses
    return url


def _kick(endpoint: WebhookEndpoint) -> None:
    from tenantry.webhooks.tasks import deliver_endpoint_task

    endpoint_id = str(endpoint.pk)
    transaction.on_commit(lambda: deliver_endpoint_task(endpoint_id))


@transaction.atomic
def endpoint_create(*, team: Team, url: str, event_types: list[str], description: str = "",
                    actor: str) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint. Returns it and its signing secret (`whsec_…`), shown this once."""
    url = _clean_url(url)
    types = _clean_event_types(event_types)
    if WebhookEndpoint.objects.filter(team=team, deleted_at__isnull=True).count() >= MAX_ENDPOINTS_PER_TEAM:
        raise Conflict(f"A team has at most {MAX_ENDPOINTS_PER_TEAM} webhook endpoints.",
                       code="webhook_endpoint_limit")
    secret = generate_secret()
    endpoint = WebhookEndpoint.objects.create(team=team, url=url, event_types=types,
                                              description=(description or "").strip()[:200],
                                              secret_ciphertext=encrypt(secret), created_by=actor)
    audit_log(actor=actor, action="webhook_endpoint.create", target=endpoint,
              data={"url": url, "event_types": types})
    return endpoint, secret


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, actor: str, url: str | None = None,
                    event_types: list[str] | None = None, description: str | None = None,
                    enabled: bool | None = None) -> WebhookEndpoint:
    """Change an endpoint; enabling a disabled one sends what waited for it, in order."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    changed: dict[str, object] = {}
    if url is not None and url.strip() != endpoint.url:
        endpoint.url = changed["url"] = _clean_url(url)
    if event_types is not None:
        endpoint.event_types = changed["event_types"] = _clean_event_types(event_types)
    if description is not None:
        endpoint.description = changed["description"] = description.strip()[:200]
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = changed["enabled"] = enabled
        if enabled:
            endpoint.disabled_reason, endpoint.disabled_at = "", None
            _kick(endpoint)
        else:
            endpoint.disabled_reason, endpoint.disabled_at = "Disabled by the team.", timezone.now()
    endpoint.save()
    if changed:
        audit_log(actor=actor, action="webhook_endpoint.update", target=endpoint, data=changed)
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: str) -> str:
    secret = generate_secret()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.secret_ciphertext = encrypt(secret)
    endpoint.save(update_fields=["secret_ciphertext", "updated_at"])
    audit_log(actor=actor, action="webhook_endpoint.rotate_secret", target=endpoint)
    return secret


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: str) -> None:
    """Stop sending to it at once; its log goes with it."""
    audit_log(actor=actor, action="webhook_endpoint.delete", target=endpoint, data={"url": endpoint.url})
    endpoint.delete()


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, actor: str) -> WebhookDelivery:
    """Send a delivered or failed event again (same `webhook-id`: it is the same message), after
    whatever the endpoint has waiting."""
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise Conflict("This endpoint is disabled: enable it first.", code="webhook_endpoint_disabled")
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("This delivery is still being tried.", code="webhook_delivery_pending")
    replay = WebhookDelivery.objects.create(endpoint=endpoint, event=delivery.event, replay_of=delivery)
    audit_log(actor=actor, action="webhook_delivery.replay", target=endpoint,
              data={"delivery": delivery.pk, "replay": replay.pk, "event": delivery.event.public_id})
    _kick(endpoint)
    return replay
