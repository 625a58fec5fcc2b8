"""Rate limits: the 101st request in a minute is a 429 with Retry-After and the IETF RateLimit-*
headers, per API key (the plan's rate when it has one) and per client IP; counted in the
database or in Redis, so every process shares the count."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.test import Client

from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import team_create
from tenantry.api import ratelimit
from tests.billing.entitlement_helpers import subscribe

pytestmark = pytest.mark.django_db
# 20 s into a minute: the whole test runs inside one window whatever the machine's speed.
FROZEN = datetime(2026, 5, 4, 10, 30, 20, tzinfo=UTC)
REDIS_URL = "redis://127.0.0.1:6379/8"


def _limits(settings, *, key: int, ip: int, store: str = "database") -> None:
    settings.TENANTRY = {**settings.TENANTRY, "API_RATE_LIMIT_PER_MINUTE": key, "API_RATE_LIMIT_PER_IP_PER_MINUTE": ip,
                         "API_RATE_LIMIT_WINDOW_SECONDS": 60, "API_RATE_LIMIT_STORE": store}


def _keyed_client(team) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")


def _assert_limited(response, *, limit: int) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "rate_limited" and body["details"]["limit"] == limit
    assert response["RateLimit-Limit"] == str(limit) and response["RateLimit-Remaining"] == "0"
    assert response["Retry-After"] == response["RateLimit-Reset"] == "40"


@time_machine.travel(FROZEN, tick=False)
def test_the_101st_request_of_a_key_in_a_minute_is_refused(settings):
    _limits(settings, key=100, ip=0)
    team = team_create(name="Busy", owner=None, actor="test")
    client = _keyed_client(team)
    for n in range(1, 101):
        response = client.get("/api/v1/webhooks/event-types")
        assert response.status_code == 200, (n, response.content)
        assert response["RateLimit-Limit"] == "100" and response["RateLimit-Remaining"] == str(100 - n)
        assert response["RateLimit-Reset"] == "40" and "Retry-After" not in response
    _assert_limited(client.get("/api/v1/webhooks/event-types"), limit=100)
    # Another key of another team has its own budget.
    assert _keyed_client(team_create(name="Calm", owner=None, actor="test")).get(
        "/api/v1/webhooks/event-types").status_code == 200
    # The next window starts afresh.
    with time_machine.travel(datetime(2026, 5, 4, 10, 31, 1, tzinfo=UTC), tick=False):
        fresh = client.get("/api/v1/webhooks/event-types")
        assert fresh.status_code == 200 and fresh["RateLimit-Remaining"] == "99"


@time_machine.travel(FROZEN, tick=False)
def test_per_ip_limit_applies_before_authentication(settings):
    _limits(settings, key=0, ip=100)
    anonymous = Client(REMOTE_ADDR="198.51.100.20")
    for _ in range(100):
        assert anonymous.get("/api/v1/webhooks/event-types").status_code == 401
    limited = anonymous.get("/api/v1/webhooks/event-types", HTTP_AUTHORIZATION="Bearer tn_guess_guess")
    _assert_limited(limited, limit=100)
    other = Client(REMOTE_ADDR="198.51.100.21").get("/api/v1/webhooks/event-types")
    assert other.status_code == 401 and other["RateLimit-Remaining"] == "99"


@time_machine.travel(FROZEN, tick=False)
def test_the_plan_sets_the_keys_rate_and_headers_show_the_tighter_limit(settings):
    _limits(settings, key=100, ip=50)
    team = team_create(name="Small plan", owner=None, actor="test")
    subscribe(team, api_requests_per_minute=5)
    client = _keyed_client(team)
    for n in range(1, 6):
        response = client.get("/api/v1/webhooks/event-types")
        assert response.status_code == 200 and response["RateLimit-Limit"] == "5"
        assert response["RateLimit-Remaining"] == str(5 - n)
        assert response["RateLimit-Policy"] == "50;w=60, 5;w=60"
    _assert_limited(client.get("/api/v1/webhooks/event-types"), limit=5)


@time_machine.travel(FROZEN, tick=False)
def test_redis_store_counts_across_clients(settings):
    settings.REDIS_URL = REDIS_URL
    _limits(settings, key=0, ip=100, store="redis")
    address = f"192.0.2.{secrets.randbelow(250) + 1}"
    key = f"ip:{address}"
    # Another process's requests: counted straight in Redis, as that process would.
    other = redis.Redis.from_url(REDIS_URL)
    start = int(FROZEN.timestamp()) // 60 * 60
    other.delete(f"tenantry:rl:{key}:{start}")
    for _ in range(60):
        ratelimit.hit(key, 100)
    assert int(other.get(f"tenantry:rl:{key}:{start}")) == 60
    client = Client(REMOTE_ADDR=address)
    for _ in range(40):
        assert client.get("/api/v1/webhooks/event-types").status_code == 401
    _assert_limited(client.get("/api/v1/webhooks/event-types"), limit=100)
    assert 0 < other.ttl(f"tenantry:rl:{key}:{start}") <= 65
    other.delete(f"tenantry:rl:{key}:{start}")


@time_machine.travel(FROZEN, tick=False)
def test_database_store_is_one_row_per_caller_and_window(settings):
    from django.db import connection

    from tenantry.core.models import RateLimitWindow

    _limits(settings, key=0, ip=100)
    for _ in range(3):
        ratelimit.hit("ip:203.0.113.50", 100)
    window = int(FROZEN.timestamp()) // 60 * 60
    assert ratelimit.stored_windows("ip:203.0.113.50") == [(window, 3)]
    with time_machine.travel(datetime(2026, 5, 4, 10, 32, tzinfo=UTC), tick=False):
        assert ratelimit.hit("ip:203.0.113.50", 100).count == 1
    assert ratelimit.stored_windows("ip:203.0.113.50") == [(window + 120, 1)]  # the old window is gone
    # On SQLite, in the counter file beside the database, never in its table (whose one write
    # lock the worker holds much of the time): a read of the API writes nothing there.
    assert RateLimitWindow.objects.exists() is (connection.vendor != "sqlite")
