"""Outbound webhooks' share of the event stream: one delivery per matching endpoint."""

from __future__ import annotations

from django.db import transaction

from tenantry.events.catalog import INTERNAL_EVENT_TYPES, matches_any
from tenantry.events.models import Event
from tenantry.webhooks.models import WebhookDelivery, WebhookEndpoint


def consume(events: list[Event]) -> None:
    team_ids = {e.team_id for e in events if e.team_id and e.type not in INTERNAL_EVENT_TYPES}
    if not team_ids:
        return
    endpoints: dict[object, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(team_id__in=team_ids, enabled=True):
        endpoints.setdefault(endpoint.team_id, []).append(endpoint)
    rows, touched = [], set()
    for event in events:  # in event order: deliveries are sent per endpoint in id order
        if event.type in INTERNAL_EVENT_TYPES:
            continue
        for endpoint in endpoints.get(event.team_id, []):
            if matches_any(endpoint.event_types, event.type):
                rows.append(WebhookDelivery(endpoint=endpoint, event=event))
                touched.add(str(endpoint.pk))
    if not rows:
        return
    WebhookDelivery.objects.bulk_create(rows)

    def kick() -> None:
        from tenantry.webhooks.tasks import deliver_endpoint_task

        for endpoint_id in sorted(touched):
            deliver_endpoint_task(endpoint_id)

    transaction.on_commit(kick)
