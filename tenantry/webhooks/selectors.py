"""Reads of a team's endpoints and deliveries; another team's look exactly like missing ones."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from tenantry.accounts.models import Team
from tenantry.core.errors import NotFound, ValidationError
from tenantry.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


def endpoint_list(*, team: Team) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(team=team).order_by("created_at")


def endpoint_get(*, team: Team, endpoint_id: str) -> WebhookEndpoint:
    try:
        endpoint = WebhookEndpoint.objects.filter(team=team, pk=uuid.UUID(str(endpoint_id))).first()
    except ValueError:
        endpoint = None
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.", code="webhook_endpoint_not_found")
    return endpoint


def delivery_list(*, team: Team, endpoint: WebhookEndpoint | None = None,
                  status: str | None = None) -> QuerySet[WebhookDelivery]:
    qs = (WebhookDelivery.objects.filter(endpoint__team=team).select_related("event", "endpoint")
          .prefetch_related("attempt_log").order_by("-id"))
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    if status:
        if status not in DeliveryStatus.values:
            raise ValidationError(f"status must be one of {', '.join(DeliveryStatus.values)}.",
                                  details={"field": "status"})
        qs = qs.filter(status=status)
    return qs


def delivery_get(*, team: Team, delivery_id: int | str) -> WebhookDelivery:
    try:
        pk = int(delivery_id)
    except (TypeError, ValueError):
        pk = None
    delivery = (WebhookDelivery.objects.filter(endpoint__team=team, pk=pk).select_related("event", "endpoint")
                .prefetch_related("attempt_log").first() if pk is not None else None)
    if delivery is None:
        raise NotFound(f"No webhook delivery {delivery_id!r}.", code="webhook_delivery_not_found")
    return delivery
