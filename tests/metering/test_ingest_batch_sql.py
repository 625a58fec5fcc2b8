"""The PostgreSQL batch insert (one INSERT ... SELECT FROM unnest ... ON CONFLICT DO NOTHING)
stores exactly what was sent, awkward keys included, and skips ids already stored; same on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenantry.accounts.services.teams import team_create
from tenantry.metering.models import Meter, UsageEvent
from tenantry.metering.services.ingest import usage_events_ingest
from tests.metering.helpers import instance_row

pytestmark = [pytest.mark.django_db]

KEYS = ['quote"d', "back\\slash", "{brace,comma}", "NULL", "tab\there", "new\nline", "éçà ✓", " spaced "]


def test_awkward_keys_round_trip_and_repeats_are_skipped():
    team = team_create(name="Keys", owner=None, actor="test")
    instance = instance_row(team, "keyed")
    Meter.objects.create(code="seats", name="Seats", aggregation="unique", unit="users")
    now = timezone.now() - timedelta(minutes=5)
    events = [{"transaction_id": f"k-{i}", "meter": "seats", "key": key, "instance": "keyed" if i % 2 else None,
               "timestamp": (now + timedelta(seconds=i)).isoformat(), "value": "1.5"} for i, key in enumerate(KEYS)]
    assert usage_events_ingest(team=team, events=events).accepted == len(KEYS)
    stored = {e.transaction_id: e for e in UsageEvent.objects.filter(team=team)}
    assert [stored[f"k-{i}"].key for i in range(len(KEYS))] == KEYS
    assert stored["k-1"].instance_id == instance.pk and stored["k-0"].instance_id is None
    assert stored["k-3"].value == 1.5 and stored["k-3"].timestamp == now + timedelta(seconds=3)
    again = usage_events_ingest(team=team, events=[*events[-2:], {**events[-1], "transaction_id": "k-new",
                                                                 "timestamp": timezone.now().isoformat()}])
    assert (again.accepted, again.duplicates) == (1, 2)
    assert UsageEvent.objects.filter(team=team).count() == len(KEYS) + 1
