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


def _dispatch_soon() -> None:
    from tenantry.events.tasks import dispatch_events_task

    dispatch_events_task()
