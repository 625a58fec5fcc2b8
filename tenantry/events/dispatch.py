"""Hands committed events to their consumers, in order, exactly once per consumer.

The consumers are named here, explicitly (no signals): the notification centre and outbound
webhooks. Each gets a batch of events inside one transaction that also marks them dispatched, so
an event is either fully consumed or retried by the next dispatch (the periodic sweep catches
events whose dispatch task was lost).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, transaction
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
    size = BATCH
    while True:
        try:
            count = _dispatch_batch(consumers, size)
        except DatabaseError:
            raise  # the database, not an event: the task retries, the sweep comes back
        except Exception:
            if size == 1:
                _set_aside_first()
                size = BATCH
                continue
            size = 1  # find the one event that fails, so that the others still go out
            continue
        if count == 0:
            return total
        total += count
        if size == 1:
            size = BATCH


def _dispatch_batch(consumers: list[Callable[[list[Event]], None]], size: int) -> int:
    with transaction.atomic():
        # One dispatcher at a time (a row lock on PostgreSQL; SQLite's write lock does the
        # same): two would hand an endpoint its deliveries in two interleaved orders.
        KeyValue.objects.select_for_update().get(key=_LOCK_KEY)
        batch = list(Event.objects.select_related("team").filter(dispatched_at__isnull=True)
                     .order_by("id")[:size])
        if not batch:
            return 0
        for consume in consumers:
            consume(batch)
        Event.objects.filter(pk__in=[e.pk for e in batch]).update(dispatched_at=timezone.now())
    log.info("events.dispatched", count=len(batch))
    return len(batch)


def _set_aside_first() -> None:
    event = Event.objects.filter(dispatched_at__isnull=True).order_by("id").first()
    if event is None:
        return
    log.exception("events.consumer_failed", event_id=event.pk, event_type=event.type)
    Event.objects.filter(pk=event.pk).update(dispatched_at=timezone.now(),
                                             dispatch_error="a consumer failed on this event; see the log")
