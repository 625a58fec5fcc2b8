"""Writes of the ops app: what monitoring counts."""

from __future__ import annotations

from tenantry.ops.models import WebhookRejection


def webhook_rejection_record(*, source: str, reason: str) -> WebhookRejection:
    """Count one refused inbound webhook (bad or missing signature) for `/metrics`."""
    return WebhookRejection.objects.create(source=source[:20], reason=reason[:200])
