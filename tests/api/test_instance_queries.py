"""What one list or show request of the instances API costs, whatever the number of instances:
a fixed number of queries (no query per row), the rate limiter's count in one statement per
limit (on SQLite in its own file, so that a read never waits for the database's write lock),
and no team or server object built per row of a page (each costs a model init and its audit
baseline, tenantry.core.audit)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.db.models.signals import post_init
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tenantry.accounts.models import Team
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.instances.models import Instance, Operation, OperationKind, Status
from tenantry.runtime.models import Server
from tenantry.runtime.placement import default_server

pytestmark = pytest.mark.django_db
FROZEN = datetime(2026, 5, 4, 10, 30, 20, tzinfo=UTC)  # one rate-limit window for the whole test


def _instances(team: Team, first: int, count: int) -> None:
    server = default_server()
    created = Instance.objects.bulk_create([
        Instance(team=team, slug=f"q{index:05d}", app="hello", server=server, subnet=f"10.{index // 256}."
                 f"{index % 256}.0/27", memory_mb=64, cpus=0.25, pids=64, status=Status.RUNNING)
        for index in range(first, first + count)])
    # Some with an operation under way: the page shows it (prefetched, not read row by row).
    Operation.objects.bulk_create([Operation(instance=i, kind=OperationKind.RESTART, actor="test")
                                   for i in created[::7]])


def _cost(client: Client, path: str) -> tuple[int, list[str], dict[str, int]]:
    built: dict[str, int] = {}

    def count(sender, **kwargs):
        built[sender.__name__] = built.get(sender.__name__, 0) + 1

    post_init.connect(count, weak=False, dispatch_uid="count-built-models")
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
    finally:
        post_init.disconnect(dispatch_uid="count-built-models")
    assert response.status_code == 200, response.content
    return len(queries), [q["sql"] for q in queries], built


@time_machine.travel(FROZEN, tick=False)
def test_list_and_show_cost_the_same_few_queries_at_10_and_at_300_instances(settings):
    # The limiter on, counted in the database (the default without Redis): its cost is every request's.
    settings.TENANTRY = {**settings.TENANTRY, "API_RATE_LIMIT_PER_MINUTE": 10_000,
                         "API_RATE_LIMIT_PER_IP_PER_MINUTE": 10_000, "API_RATE_LIMIT_STORE": "database"}
    team = operator_team()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='q').plaintext}")
    _instances(team, 0, 10)
    client.get("/api/v1/instances")  # first request: the key's last use is recorded, windows created
    small_list, _, _ = _cost(client, "/api/v1/instances")
    small_show, _, _ = _cost(client, "/api/v1/instances/q00003")

    _instances(team, 10, 290)
    listed, sql, built = _cost(client, "/api/v1/instances")
    shown, _, _ = _cost(client, "/api/v1/instances/q00250")
    assert (listed, shown) == (small_list, small_show)
    # key lookup, the plan's rate (the live subscription, else the latest: one query), one upsert
    # per limit (address, key; on SQLite in the counter file, not in this database), then the
    # page: count, rows, their active operations.
    upserts = 0 if connection.vendor == "sqlite" else 2
    assert listed == 1 + 1 + upserts + 3, sql
    assert shown == 1 + 1 + upserts + 2
    assert sum("ratelimitwindow" in q.lower() for q in sql) == upserts
    if connection.vendor == "sqlite":  # a read writes nothing to the database
        assert not [q for q in sql if q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))], sql
    # A page of 100 rows builds its 100 instances and their operations, not a team and a server each.
    assert built.get(Instance.__name__) == 100
    assert built.get(Team.__name__, 0) <= 1 and built.get(Server.__name__, 0) == 0, built
    page = client.get("/api/v1/instances", {"limit": 100, "offset": 0}).json()
    assert page["count"] == 300 and len(page["items"]) == 100
    busy = {i["slug"]: i["active_operation"] for i in page["items"]}
    assert busy["q00000"]["kind"] == "restart" and busy["q00001"] is None


HOLD_SECONDS = 5


@pytest.mark.django_db(transaction=True)
def test_reads_answer_while_another_process_holds_the_databases_write_lock(settings):
    """SQLite has one write lock per database file, which the worker holds for much of every
    minute with many instances. A list or show (rate limiter on, counted in the database store)
    answers while another connection holds it, instead of waiting in SQLite's busy handler."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's one write lock per file")
    settings.TENANTRY = {**settings.TENANTRY, "API_RATE_LIMIT_PER_MINUTE": 10_000,
                         "API_RATE_LIMIT_PER_IP_PER_MINUTE": 10_000, "API_RATE_LIMIT_STORE": "database"}
    team = operator_team()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='q').plaintext}")
    _instances(team, 0, 10)
    assert client.get("/api/v1/instances").status_code == 200  # the key's last use is recorded now

    # Another process's write transaction (the worker's): a real second connection to the file.
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE instances_instance SET status_message = 'held' WHERE slug = 'q00001'")
    released = threading.Event()

    def release() -> None:
        holder.execute("COMMIT")
        released.set()

    timer = threading.Timer(HOLD_SECONDS, release)
    timer.start()
    try:
        listed = client.get("/api/v1/instances")
        shown = client.get("/api/v1/instances/q00001")
        assert not released.is_set(), "the reads waited for the other connection's write lock"
    finally:
        timer.join()
        holder.close()
    assert listed.status_code == 200 and listed.json()["count"] == 10
    assert shown.status_code == 200 and shown.json()["status_message"] == ""  # not committed yet when read
    assert listed["RateLimit-Remaining"] == str(10_000 - 2)  # the limiter counted them (address: 2 so far)


@time_machine.travel(FROZEN, tick=False)
def test_a_list_item_is_the_instance_as_show_gives_it(settings):
    """The list loads only the columns it shows; each item is still exactly what show (the whole
    row) answers for that instance, field for field."""
    from tenantry.instances.naming import instance_host, instance_url

    team = operator_team()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='q').plaintext}")
    _instances(team, 0, 30)
    Instance.objects.filter(slug="q00002").update(
        app_version="1.2", status_message="Stopped by its owner", status=Status.STOPPED, desired_state="stopped",
        hibernate_after_seconds=600, last_request_at=datetime(2026, 5, 4, 9, 0, 1, 250000, tzinfo=UTC),
        options={"templates": ["echo"]}, running_since=FROZEN, created_by="someone")
    page = client.get("/api/v1/instances", {"limit": 20, "offset": 0}).json()
    assert page["count"] == 30 and [i["slug"] for i in page["items"]] == [f"q{n:05d}" for n in range(20)]
    for item in page["items"]:
        assert item == client.get(f"/api/v1/instances/{item['slug']}").json()
    by_slug = {i["slug"]: i for i in page["items"]}
    stopped = Instance.objects.get(slug="q00002")
    assert by_slug["q00002"] == {
        "id": str(stopped.pk), "slug": "q00002", "app": "hello", "app_version": "1.2",
        "url": instance_url("q00002"), "host": instance_host("q00002"), "status": "stopped",
        "desired_state": "stopped", "status_message": "Stopped by its owner", "memory_mb": 64, "cpus": 0.25,
        "pids": 64, "hibernate_after_seconds": 600, "last_request_at": "2026-05-04T09:00:01.250Z",
        "created_at": "2026-05-04T10:30:20Z", "active_operation": None}
    busy = by_slug["q00000"]["active_operation"]
    operation = Operation.objects.get(instance__slug="q00000")
    assert busy == {"id": str(operation.pk), "kind": "restart", "status": "pending"}


@pytest.mark.django_db(transaction=True)
def test_a_request_leaves_its_database_connection_open_for_the_next():
    """What Django runs when a request (or a queue task, or an edge read) ends does not close the
    connection: on SQLite opening one reads the whole schema (~1.3 ms here), which every API
    request, status read of the edge and queue task paid before its first query."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=operator_team(), name='c').plaintext}")
    assert client.get("/api/v1/instances").status_code == 200
    first = connection.connection
    assert first is not None
    close_old_connections()  # the test client skips it; the web server runs it after every request
    assert connection.connection is first
    assert client.get("/api/v1/instances").status_code == 200
    assert connection.connection is first
