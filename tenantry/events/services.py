"""Emitting events: `emit(event_type, team=…, data=…)` inside the service's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from tenantry.accounts.models import Team
from tenantry.events.catalog import validate_payload
from tenantry.events.models import Event


def emit(event_type: str, *, team: Team | None, data: dict[str, Any]) -> Event:
    """Record an event in the caller's transaction; it is dispatched once that commits (and not
    at all if it rolls back). The payload must match the catalog's schema for the type."""
    event = Event.objects.create(type=event_type, team=team, data=validate_payload(event_type, data))
    transaction.on_commit(_dispatch_soon)
    return event


def emit_many(events: Iterable[tuple[str, Any, dict[str, Any]]]) -> list[Event]:
    """Many events in one statement (the billing run finalizes thousands of invoices at once):
    (event type, team id, data) each."""
    rows = [Event(type=t, team_id=team_id, data=validate_payload(t, data)) for t, team_id, data in events]
    if not rows:
        return []
    created = Event.objects.bulk_create(rows, batch_size=2000)
    transaction.on_commit(_dispatch_soon)
    return created


# Events go out a second or so after they are recorded, not at once. Most are recorded with an
# operation that a worker starts at the same moment (an instance created, then provisioned):
# their dispatch took the worker's other thread, a core and SQLite's write lock just as that
# operation claimed its first steps (~6 ms of a provisioning's path to its first answer on two
# cores). Events recorded within that second go out in one batch. The immediate queue (tests,
# one-off commands) dispatches at once.
DISPATCH_DELAY_SECONDS = 1


def _dispatch_soon() -> None:
    from huey.contrib.djhuey import HUEY

    from tenantry.events.tasks import dispatch_events_task

    if HUEY.immediate:
        dispatch_events_task()
    else:
        dispatch_events_task.schedule(delay=DISPATCH_DELAY_SECONDS)
