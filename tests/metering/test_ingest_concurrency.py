"""Two batches of one team at the same moment, for the same stream and sharing transaction ids:
each shared id is stored once, and the order check sees the other batch (the team lock makes
the second wait for the first's commit), so nothing is stored out of order."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tenantry.accounts.services.teams import team_create
from tenantry.metering.errors import InvalidUsageEvent
from tenantry.metering.models import Meter, UsageEvent
from tenantry.metering.services.ingest import IngestResult, usage_events_ingest
from tests.metering.helpers import instance_row

pytestmark = [pytest.mark.postgres,  # SQLite serialises writers: the race needs real row locks
              pytest.mark.django_db(transaction=True)]


def _batch(prefix: str, shared: str, start, offset_ms: int):
    own = [f"{prefix}-{i}" for i in range(200)]
    return [{"transaction_id": txn, "meter": "api_calls", "value": 1, "instance": "mine",
             "timestamp": (start + timedelta(milliseconds=offset_ms + i)).isoformat()}
            for i, txn in enumerate([f"{shared}-{n}" for n in range(50)] + own)]


def _race(team, first, second) -> dict[str, IngestResult | InvalidUsageEvent]:
    barrier = threading.Barrier(2)
    outcomes: dict[str, IngestResult | InvalidUsageEvent] = {}

    def send(name, events) -> None:
        try:
            barrier.wait()
            outcomes[name] = usage_events_ingest(team=team, events=events)
        except InvalidUsageEvent as refused:
            outcomes[name] = refused
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=args) for args in (("early", first), ("late", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_batches_store_shared_ids_once_and_never_out_of_order():
    team = team_create(name="Racing meters", owner=None, actor="test")
    instance_row(team, "mine")
    Meter.objects.create(code="api_calls", name="API calls", aggregation="sum", unit="calls")
    base = timezone.now() - timedelta(hours=1)
    for round_ in range(6):
        start = base + timedelta(seconds=10 * round_)
        # "early" holds the earlier timestamps of the stream, "late" the later ones.
        outcomes = _race(team, _batch(f"e{round_}", f"s{round_}", start, 0), _batch(f"l{round_}", f"s{round_}", start,
                                                                                     5000))
        early, late = outcomes["early"], outcomes["late"]
        stored = UsageEvent.objects.filter(team=team, transaction_id__startswith=f"s{round_}-")
        assert stored.count() == 50  # each shared id once, whoever won
        early_ids = list(UsageEvent.objects.filter(team=team, transaction_id__startswith=f"e{round_}-")
                         .values_list("id", flat=True))
        late_ids = list(UsageEvent.objects.filter(team=team, transaction_id__startswith=f"l{round_}-")
                        .values_list("id", flat=True))
        assert isinstance(late, IngestResult), late  # later timestamps are never late
        if isinstance(early, InvalidUsageEvent):  # which one runs first is the scheduler's choice
            # "late" committed first: "early"'s own (earlier) events are refused, the whole batch.
            assert early.details["field"] == "timestamp" and early.details["index"] == 50
            assert (late.accepted, late.duplicates) == (250, 0)
            assert early_ids == [] and len(late_ids) == 200
        else:
            assert (early.accepted, early.duplicates) == (250, 0)
            assert (late.accepted, late.duplicates) == (200, 50)
            assert max(early_ids) < min(late_ids)  # stored in timestamp order
    # Every stored event of the stream follows its predecessor in time.
    stamps = list(UsageEvent.objects.filter(team=team).order_by("id").values_list("timestamp", flat=True))
    assert stamps == sorted(stamps)
