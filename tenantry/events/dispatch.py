"""Hands committed events to their consumers, in order, exactly once per consumer.

The consumers are named here, explicitly (no signals): the notification centre and outbound
webhooks. Each gets a batch of events inside one transaction that also marks them dispatched, so
an event is either fully consumed or retried by the next dispatch (the periodic sweep catches
events whose dispatch task was lost).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from tenantry.core.logging import get_logger
from tenantry.core.models import KeyValue
from tenantry.events.models import Event

log = get_logger(__name__)

CONSUMERS = [
    "tenantry.notifications.consumer.consume",
    "tenantry.webhooks.consumer.consume",
]
BATCH = 200
_LOCK_KEY = "events.dispatcher"


def _consumers() -> list[Callable[[list[Event]], None]]:
    return [import_string(path) for path in CONSUMERS]


def dispatch_pending_events() -> int:
    """Dispatch every event not yet dispatched; returns how many."""
    total = 0
    consumers = _consumers()
    KeyValue.objects.get_or_create(key=_LOCK_KEY)
    while True:
        with transaction.atomic():
            # One dispatcher at a time (a row lock on PostgreSQL; SQLite's write lock does the
            # same): two would hand an endpoint its deliveries in two interleaved orders.
            KeyValue.objects.select_for_update().get(key=_LOCK_KEY)
            batch = list(Event.objects.select_related("team").filter(dispatched_at__isnull=True)
                         .order_by("id")[:BATCH])
            if not batch:
                return total
            for consume in consumers:
                consume(batch)
            Event.objects.filter(pk__in=[e.pk for e in batch]).update(dispatched_at=timezone.now())
        total += len(batch)
        log.info("events.dispatched", count=len(batch))
