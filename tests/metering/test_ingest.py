"""Usage events through the API: batches of up to 1,000, all or nothing, the offending index
named; idempotent by transaction id per team; out-of-order and foreign events refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tenantry.accounts.services.teams import team_create
from tenantry.metering.models import Meter, UsageEvent
from tests.billing.entitlement_helpers import subscribe
from tests.metering.helpers import api_client, instance_row, post_events

pytestmark = [pytest.mark.django_db]


@pytest.fixture()
def setup():
    team = team_create(name="Meter A", owner=None, actor="test")
    other = team_create(name="Meter B", owner=None, actor="test")
    subscribe(team)
    subscribe(other)
    Meter.objects.create(code="api_calls", name="API calls", aggregation="sum", unit="calls")
    Meter.objects.create(code="active_users", name="Active users", aggregation="unique", unit="users")
    return team, other, instance_row(team, "mine"), instance_row(other, "theirs")


def _event(i: int, *, at=None, **extra):
    at = at or timezone.now() - timedelta(minutes=10) + timedelta(milliseconds=i)
    return {"transaction_id": f"t-{i}", "meter": "api_calls", "timestamp": at.isoformat(), "value": 2,
            "instance": "mine", **extra}


def test_a_batch_is_stored_and_a_repeat_is_accepted_once(setup):
    team, _, instance, _ = setup
    client = api_client(team)
    batch = [_event(i) for i in range(1000)]
    first = post_events(client, batch)
    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 1000, "duplicates": 0}
    again = post_events(client, batch)
    assert again.json() == {"accepted": 0, "duplicates": 1000}
    assert UsageEvent.objects.filter(team=team, instance=instance).count() == 1000
    assert sum(e.value for e in UsageEvent.objects.filter(team=team)) == Decimal(2000)


def test_more_than_1000_events_is_refused_whole(setup):
    team, *_ = setup
    response = post_events(api_client(team), [_event(i) for i in range(1001)])
    assert response.status_code == 422
    assert response.json()["code"] == "batch_too_large"
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(("bad", "field"), [
    ({"value": "abc"}, "value"),
    ({"value": -1}, "value"),
    ({"value": None}, "value"),
    ({"meter": "nope"}, "meter"),
    ({"meter": "traffic_in_bytes"}, "meter"),  # internal meters are written by collectors only
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": "2026-01-01T10:00:00"}, "timestamp"),  # no time zone
    ({"timestamp": (timezone.now() + timedelta(hours=1)).isoformat()}, "timestamp"),
    ({"transaction_id": ""}, "transaction_id"),
    ({"transaction_id": "has space"}, "transaction_id"),
    ({"surprise": 1}, "surprise"),
    ({"meter": "active_users", "key": ""}, "key"),
])
def test_a_malformed_item_refuses_the_batch_with_its_index(setup, bad, field):
    team, *_ = setup
    batch = [_event(i) for i in range(5)]
    batch[3] = {**batch[3], **bad}
    response = post_events(api_client(team), batch)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid_usage_event"
    assert body["details"]["index"] == 3 and body["details"]["field"] == field
    assert not UsageEvent.objects.exists()


def test_out_of_order_events_are_refused_within_the_batch_and_against_the_stored_ones(setup):
    team, *_ = setup
    client = api_client(team)
    now = timezone.now()
    batch = [_event(0, at=now - timedelta(minutes=5)), _event(1, at=now - timedelta(minutes=6))]
    response = post_events(client, batch)
    assert response.status_code == 422 and response.json()["details"]["index"] == 1
    assert not UsageEvent.objects.exists()

    assert post_events(client, [_event(0, at=now - timedelta(minutes=5))]).status_code == 200
    late = post_events(client, [_event(5, at=now - timedelta(minutes=1)), _event(6, at=now - timedelta(minutes=7))])
    assert late.status_code == 422 and late.json()["details"]["index"] == 1
    assert UsageEvent.objects.count() == 1
    # Another stream (no instance) has its own order; a repeat of a stored id is not "late".
    other_stream = post_events(client, [_event(0, at=now - timedelta(minutes=5)),
                                        _event(7, at=now - timedelta(minutes=9), instance=None)])
    assert other_stream.json() == {"accepted": 1, "duplicates": 1}


def test_events_for_another_teams_instance_are_refused(setup):
    team, _other, _, theirs = setup
    for ref in ("theirs", str(theirs.id), "nothing-here"):
        response = post_events(api_client(team), [_event(0), _event(1, instance=ref)])
        assert response.status_code == 422
        assert response.json()["details"] == {"index": 1, "field": "instance"}
        assert "theirs" not in response.json()["message"] or ref == "theirs"
    assert not UsageEvent.objects.exists()


def test_transaction_ids_are_unique_per_team_not_globally(setup):
    team, other, _, _ = setup
    assert post_events(api_client(team), [_event(0)]).json()["accepted"] == 1
    assert post_events(api_client(other), [_event(0, instance="theirs")]).json()["accepted"] == 1
    assert UsageEvent.objects.count() == 2


def test_a_read_only_key_cannot_send_events_and_a_missing_key_is_401(setup):
    team, *_ = setup
    from django.test import Client

    assert post_events(api_client(team, scope="read"), [_event(0)]).status_code == 403
    assert post_events(Client(), [_event(0)]).status_code == 401
    assert not UsageEvent.objects.exists()


def test_keys_are_stored_exactly_whatever_characters_they_hold(setup):
    team, *_ = setup
    key = "tab\there\\back\nline\r\u00e9\\N"
    response = post_events(api_client(team), [_event(0, meter="active_users", key=key, value=None)])
    assert response.json() == {"accepted": 1, "duplicates": 0}
    stored = UsageEvent.objects.get(team=team)
    assert stored.key == key and stored.value == Decimal(1)
    assert stored.instance.slug == "mine"


def test_any_offset_python_accepts_is_stored_in_utc(setup):
    # PostgreSQL refuses offsets beyond ±15:59 (it was a 500 there); the instant is what counts.
    team, _, _, _ = setup
    moment = (timezone.now() - timedelta(minutes=3)).astimezone(timezone.get_fixed_timezone(16 * 60))
    response = post_events(api_client(team), [_event(0, at=moment)])
    assert response.status_code == 200, response.content
    assert UsageEvent.objects.get(team=team).timestamp == moment
