"""The event stream: payloads checked against the catalog, nothing emitted by a rolled-back
transaction, dispatched once in order, and one event that breaks a consumer does not hold up
the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from pydantic import ValidationError

from tenantry.events import dispatch
from tenantry.events.catalog import UnknownEventType, matches_any
from tenantry.events.models import Event
from tenantry.events.services import emit
from tests.conftest import start_worker, stop_worker, wait_for
from tests.dashboard.helpers import make_user

SEEN: list[str] = []


def recording_consumer(events: list[Event]) -> None:
    for event in events:
        if event.data.get("meter") == "poison":
            raise RuntimeError("a consumer bug")
    SEEN.extend(e.data["meter"] for e in events)


def _usage(team, meter):
    emit("usage.threshold", team=team, data={"meter": meter, "used": 8, "limit": 10, "percent": 80})


@pytest.fixture()
def team(transactional_db):
    return make_user("owner@example.com").memberships.get().team


def test_payloads_follow_the_catalog(team):
    with pytest.raises(UnknownEventType):
        emit("instance.exploded", team=team, data={})
    with pytest.raises(ValidationError):
        emit("invoice.paid", team=team, data={"invoice_id": "x"})
    assert not Event.objects.exists()


def test_wildcards():
    assert matches_any(["instance.*"], "instance.ready")
    assert not matches_any(["instance.*"], "invoice.paid")
    assert matches_any(["*"], "payment.failed") and matches_any(["payment.failed"], "payment.failed")
    assert not matches_any(["payment"], "payment.failed")


def test_rolled_back_work_emits_nothing(team):
    with pytest.raises(RuntimeError), transaction.atomic():
        _usage(team, "storage")
        raise RuntimeError("the service failed after emitting")
    assert not Event.objects.exists()


def test_dispatched_once_in_order_and_a_poison_event_is_set_aside(team, monkeypatch):
    monkeypatch.setattr(dispatch, "CONSUMERS", ["tests.events.test_dispatch.recording_consumer"])
    SEEN.clear()
    with transaction.atomic():  # dispatched after commit, all at once
        for meter in ("a", "b", "poison", "c"):
            _usage(team, meter)
    assert SEEN == ["a", "b", "c"]
    poison = Event.objects.get(data__meter="poison")
    assert poison.dispatched_at is not None and "consumer failed" in poison.dispatch_error
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert dispatch.dispatch_pending_events() == 0  # nothing twice
    assert SEEN == ["a", "b", "c"]


def test_a_dispatch_is_queued_for_a_second_later_not_at_once(team, queued):
    """An event is mostly recorded with an operation that a worker starts at the same moment; its
    dispatch took a core and SQLite's write lock from that operation's first steps (issue 15)."""
    before = datetime.now(UTC)
    _usage(team, "soon")
    tasks = [t for t in queued.pending() if t.name.endswith("dispatch_events_task")]
    assert len(tasks) == 1
    assert tasks[0].eta is not None, "dispatched at once"
    eta = tasks[0].eta.replace(tzinfo=UTC)  # Huey keeps naive UTC times
    assert before + timedelta(seconds=0.9) <= eta <= datetime.now(UTC) + timedelta(seconds=1.1)


def test_a_worker_dispatches_a_recorded_event_within_seconds(team, queued, output_dir):
    process = start_worker(output_dir / "worker-events-dispatch.log")
    try:
        _usage(team, "delivered")
        wait_for(lambda: Event.objects.filter(data__meter="delivered", dispatched_at__isnull=False).exists(),
                 timeout=60, what="the worker to dispatch the event")
    finally:
        stop_worker(process)
    event = Event.objects.get(data__meter="delivered")
    assert not event.dispatch_error
    assert event.dispatched_at >= event.created_at
