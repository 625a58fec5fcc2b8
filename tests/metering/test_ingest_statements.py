"""What a batch costs the database, and what it refuses before the database would choke.

A batch is a fixed number of statements whatever its size: a regression to a statement per item
(or per chunk of items) is what made ingestion slow, so it is counted here. Input the database
cannot hold (a NUL in a key, a lone surrogate, February 30th) is a 422 naming the item, not a
server error."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenantry.accounts.services.teams import team_create
from tenantry.metering.errors import InvalidUsageEvent
from tenantry.metering.models import Meter, UsageEvent
from tenantry.metering.services.ingest import usage_events_ingest
from tests.metering.helpers import api_client, instance_row, post_events

pytestmark = [pytest.mark.django_db]

_TRANSACTION_CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b")


@pytest.fixture()
def team():
    team = team_create(name="Counted", owner=None, actor="test")
    instance_row(team, "one")
    instance_row(team, "two")
    Meter.objects.create(code="api_calls", name="API calls", aggregation="sum", unit="calls")
    Meter.objects.create(code="seats", name="Seats", aggregation="unique", unit="users")
    return team


def _batch(size: int, first: int):
    """`size` events spread over the same four streams (two meters x two instances) whatever
    the size, so that only the number of items changes between batches."""
    start = timezone.now() - timedelta(hours=1) + timedelta(milliseconds=first)
    return [{"transaction_id": f"n-{first + i}", "meter": ("api_calls", "seats")[i % 2], "key": f"user-{i % 7}",
             "value": i % 5, "instance": ("one", "two")[(i // 2) % 2],
             "timestamp": (start + timedelta(microseconds=i)).isoformat()}
            for i in range(size)]


def _statements(team, events) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        result = usage_events_ingest(team=team, events=events)
    assert (result.accepted, result.duplicates) == (len(events), 0)
    return [q["sql"] for q in captured.captured_queries if not _TRANSACTION_CONTROL.match(q["sql"])]


def test_a_batch_costs_the_same_statements_whatever_its_size(team):
    batches = [_batch(4, 0), _batch(40, 100), _batch(1000, 1000)]
    counted = [_statements(team, batch) for batch in batches]
    assert UsageEvent.objects.filter(team=team).count() == 1044
    assert len(counted[0]) == len(counted[1]) == len(counted[2]), [len(c) for c in counted]
    if connection.vendor == "postgresql":
        # The team lock with the meters and instances, then one insert that also answers the
        # stored ids and the stream heads.
        context, store = counted[2]
        assert "FOR UPDATE" in context and "metering_meter" in context and "instances_instance" in context
        assert store.lstrip().startswith("WITH new AS") and "ON CONFLICT" in store
    else:
        # The lock, meters, instances, stored ids, a head per stream (4), one executemany insert.
        assert len(counted[2]) == 9, counted[2]
        assert sum("INSERT" in sql for sql in counted[2]) == 1


def test_a_repeated_batch_costs_no_more_statements(team):
    batch = _batch(1000, 0)
    first = _statements(team, batch)
    with CaptureQueriesContext(connection) as captured:
        again = usage_events_ingest(team=team, events=batch)
    assert (again.accepted, again.duplicates) == (0, 1000)
    replayed = [q["sql"] for q in captured.captured_queries if not _TRANSACTION_CONTROL.match(q["sql"])]
    # SQLite inserts nothing when everything is stored; PostgreSQL's one insert skips it all.
    assert len(replayed) == len(first) - (connection.vendor != "postgresql")


@pytest.mark.parametrize(("bad", "field"), [
    ({"key": "nul\x00inside"}, "key"),
    ({"key": "lone \ud800 surrogate"}, "key"),
    ({"meter": "api\x00calls"}, "meter"),
    ({"instance": "one\x00"}, "instance"),
    ({"instance": "\udfff"}, "instance"),
    ({"timestamp": "2026-02-30T10:00:00Z"}, "timestamp"),  # well formed, not a date
])
def test_text_the_database_cannot_hold_is_refused_with_its_index(team, bad, field):
    batch = _batch(4, 0)
    batch[2] = {**batch[2], **bad}
    response = post_events(api_client(team), batch)
    assert response.status_code == 422, response.content
    assert response.json()["details"] == {"index": 2, "field": field}
    assert not UsageEvent.objects.exists()


def test_the_first_bad_item_is_named_whichever_check_catches_it(team):
    # Index 1 has an unknown instance (known only after the database lookup), index 3 a bad
    # value (known from the item alone): the batch is refused at 1.
    batch = _batch(4, 0)
    batch[1] = {**batch[1], "instance": "nowhere"}
    batch[3] = {**batch[3], "value": "lots"}
    with pytest.raises(InvalidUsageEvent) as refused:
        usage_events_ingest(team=team, events=batch)
    assert refused.value.details == {"index": 1, "field": "instance"}
