"""API rate limits: per client IP (every /api/ request, before authentication, so guessing keys
is limited too) and per API key (after authentication, at the key's plan's rate). Fixed windows
counted in Redis when configured, else in the database: every process shares the counts.

On SQLite the counts live in a file of their own beside the database (`<name>-ratelimit.sqlite3`),
not in its `RateLimitWindow` table: SQLite has one write lock per file, which the worker holds for
much of every minute with a thousand instances (a metering transaction per instance, steps,
heartbeats), and a request's counting upsert waited for it in SQLite's busy handler, whose
sleeps grow (1, 2, 5, 10 … 100 ms) while the worker takes the lock again at once: 50-100 ms and
more added to reads that write nothing else (bench/api_latency.py --writer-ms). Only API
requests write the counter file, so every process on the host still shares one count.

Every API answer carries the IETF draft headers (`RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset`, plus `RateLimit-Policy`) for the tighter of the two limits; a refused request
is a 429 in the API's error shape with `Retry-After`.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse

from tenantry.core.audit import client_ip
from tenantry.core.errors import ApplicationError
from tenantry.core.models import RateLimitWindow

API_PREFIX = "/api/"
_STATES = "_tenantry_rate_limits"


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429


@dataclass(frozen=True)
class LimitState:
    limit: int
    count: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


def _conf(name: str) -> Any:
    return settings.TENANTRY[name]


def _window() -> tuple[int, int, int]:
    size = max(1, int(_conf("API_RATE_LIMIT_WINDOW_SECONDS")))
    now = time.time()
    start = int(now // size * size)
    return start, size, max(1, math.ceil(start + size - now))


@lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2)


def _hit_redis(key: str, start: int, size: int) -> int:
    client = _redis(settings.REDIS_URL)
    name = f"tenantry:rl:{key}:{start}"
    pipe = client.pipeline()
    pipe.incr(name)
    pipe.expire(name, size + 5)
    count, _ = pipe.execute()
    return int(count)


def _hit_database(key: str, start: int) -> int:
    counters = _sqlite_counters()
    if counters is not None:
        return counters.hit(key, start)
    if connection.vendor == "postgresql":
        count = _upsert(key, start)
        if count == 1:  # a new window for this key: drop the ones long past (keeps the table small)
            RateLimitWindow.objects.filter(key=key, window__lt=start).delete()
        return count
    return _hit_database_portably(key, start)


class SqliteCounters:
    """The counts in their own SQLite file (see the module's docstring): one connection per
    thread and process, kept open (a request pays one statement, not a connection)."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # never a connection inherited through fork
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS rate_limit_window (caller TEXT NOT NULL, window_start INTEGER "
                       "NOT NULL, hits INTEGER NOT NULL, PRIMARY KEY (caller, window_start)) WITHOUT ROWID")
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def hit(self, key: str, start: int) -> int:
        db = self._db()
        count = int(db.execute(
            "INSERT INTO rate_limit_window (caller, window_start, hits) VALUES (?, ?, 1) ON CONFLICT (caller, "
            "window_start) DO UPDATE SET hits = hits + 1 RETURNING hits", (key, start)).fetchone()[0])
        if count == 1:  # a new window for this key: drop the ones long past (keeps the file small)
            db.execute("DELETE FROM rate_limit_window WHERE caller = ? AND window_start < ?", (key, start))
        return count

    def windows(self, key: str) -> list[tuple[int, int]]:
        """(window start, count) of `key`'s stored windows."""
        return [(int(start), int(hits)) for start, hits in self._db().execute(
            "SELECT window_start, hits FROM rate_limit_window WHERE caller = ? ORDER BY window_start", (key,))]

    def clear(self) -> None:
        self._db().execute("DELETE FROM rate_limit_window")


_COUNTERS: dict[Path, SqliteCounters] = {}
_COUNTERS_LOCK = threading.Lock()


def _sqlite_counters() -> SqliteCounters | None:
    """The counter file of the SQLite database in use (the test database in tests), or None
    when the database is not an SQLite file."""
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if not name or name.startswith(("file:", ":memory:")):
        return None
    database = Path(name)
    path = database.with_name(f"{database.stem}-ratelimit.sqlite3")
    counters = _COUNTERS.get(path)
    if counters is None:
        with _COUNTERS_LOCK:
            counters = _COUNTERS.setdefault(path, SqliteCounters(path))
    return counters


def stored_windows(key: str) -> list[tuple[int, int]]:
    """(window start, count) of the database store's windows for `key`, wherever it keeps them."""
    counters = _sqlite_counters()
    if counters is not None:
        return counters.windows(key[:120])
    return list(RateLimitWindow.objects.filter(key=key[:120]).order_by("window").values_list("window", "count"))


def forget_sqlite_counts() -> None:
    """Forget every count of the SQLite counter file, when there is one: it is outside the
    transaction a test rolls back, so tests start each from none this way."""
    counters = _sqlite_counters()
    if counters is not None and counters.path.exists():
        counters.clear()


def _upsert(key: str, start: int) -> int:
    """Count the hit in one statement (PostgreSQL): every API request pays it (twice: per
    address, per key); the portable form takes three statements in a transaction."""
    quote = connection.ops.quote_name
    table = quote(RateLimitWindow._meta.db_table)
    key_col, window_col, count_col = (quote(str(field.column)) for field in (RateLimitWindow.key.field,
                                                                        RateLimitWindow.window.field,
                                                                        RateLimitWindow.count.field))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_col}, {window_col}, {count_col}) VALUES (%s, %s, 1) "  # noqa: S608 (names quoted)
            f"ON CONFLICT ({key_col}, {window_col}) DO UPDATE SET {count_col} = {table}.{count_col} + 1 "
            f"RETURNING {count_col}", [key, start])
        return int(cursor.fetchone()[0])


def _hit_database_portably(key: str, start: int) -> int:
    for _attempt in range(3):
        with transaction.atomic():
            if RateLimitWindow.objects.filter(key=key, window=start).update(count=F("count") + 1):
                return int(RateLimitWindow.objects.filter(key=key, window=start).values_list("count", flat=True)[0])
            try:
                with transaction.atomic():
                    RateLimitWindow.objects.create(key=key, window=start, count=1)
            except IntegrityError:  # another process created it first: count again
                continue
            # A new window for this key: the table is kept small by dropping windows long past.
            RateLimitWindow.objects.filter(key=key, window__lt=start).delete()
            return 1
    raise RuntimeError("rate limit counter kept changing")  # pragma: no cover


def hit(key: str, limit: int) -> LimitState:
    """Count one request for `key` in the current window."""
    start, size, reset = _window()
    key = key[:120]
    if _conf("API_RATE_LIMIT_STORE") == "redis" and settings.REDIS_URL:
        count = _hit_redis(key, start, size)
    else:
        count = _hit_database(key, start)
    return LimitState(limit=limit, count=count, reset=reset)


def default_limit() -> int:
    return int(_conf("API_RATE_LIMIT_PER_MINUTE"))


def ip_limit() -> int:
    return int(_conf("API_RATE_LIMIT_PER_IP_PER_MINUTE"))


def key_limit(team: Any) -> int:
    """The team's plan's rate, or the installation's default."""
    from tenantry.billing.selectors import team_api_rate

    rate = team_api_rate(team)
    return int(rate) if rate else default_limit()


def _record(request: HttpRequest, state: LimitState) -> None:
    states = getattr(request, _STATES, None)
    if states is None:
        states = []
        setattr(request, _STATES, states)
    states.append(state)


def check_api_key(request: HttpRequest, key: Any) -> None:
    """Called once the key is known: counts it, refuses past its plan's rate."""
    if default_limit() <= 0:
        return
    state = hit(f"key:{key.prefix}", key_limit(key.team))
    _record(request, state)
    if state.exceeded:
        raise RateLimited(f"Too many requests for this API key: {state.limit} a window; retry in {state.reset} s.",
                          details={"limit": state.limit, "retry_after": state.reset})


def _headers(response: HttpResponse, states: list[LimitState]) -> None:
    tightest = min(states, key=lambda s: (s.remaining, -s.reset))
    size = int(_conf("API_RATE_LIMIT_WINDOW_SECONDS"))
    response["RateLimit-Limit"] = str(tightest.limit)
    response["RateLimit-Remaining"] = str(tightest.remaining)
    response["RateLimit-Reset"] = str(tightest.reset)
    response["RateLimit-Policy"] = ", ".join(f"{s.limit};w={size}" for s in states)
    if response.status_code == 429:
        response["Retry-After"] = str(max(s.reset for s in states if s.exceeded) if any(
            s.exceeded for s in states) else tightest.reset)


class ApiRateLimitMiddleware:
    """Counts every API request per client IP, and adds the headers to every API answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        response: HttpResponse | None = None
        if ip_limit() > 0:
            state = hit(f"ip:{client_ip(request) or 'unknown'}", ip_limit())
            _record(request, state)
            if state.exceeded:
                response = JsonResponse(
                    {"code": "rate_limited", "message": f"Too many requests from this address: {state.limit} a "
                     f"window; retry in {state.reset} s.", "details": {"limit": state.limit,
                                                                      "retry_after": state.reset}}, status=429)
        if response is None:
            response = self.get_response(request)
        states = getattr(request, _STATES, None)
        if states:
            _headers(response, states)
        return response
