"""The operation lease is fenced (issue 9, item 15): two workers racing for one operation run
each step once; a worker whose heartbeat fails on a database error abandons the step and writes
nothing more, and the next worker finishes it exactly once.

Workers are threads of this process with their own database connections, running the real
engine; the steps are test steps that record every run (the lease is 3 s in the tests)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, close_old_connections

from tenantry.instances import steps as steps_module
from tenantry.instances.engine import run_operation
from tenantry.instances.lease import Lease
from tenantry.instances.models import Operation, OperationStatus, Status, Step, StepStatus
from tests.conftest import wait_for
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]


class Runs:
    """What the test steps did, by which worker (the claim token it held)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def add(self, step: str, what: str, token: int) -> None:
        with self.lock:
            self.events.append((step, what, token))

    def of(self, step: str, what: str) -> list[int]:
        return [token for name, event, token in self.events if name == step and event == what]


@pytest.fixture()
def recorded(monkeypatch, queued):
    """An operation whose steps are `slow` (long enough to outlive a lease) then `quick`."""
    runs = Runs()
    mode: dict[str, str] = {"slow": "watch"}

    def slow(ctx) -> None:
        runs.add("slow", "start", ctx.lease.token)
        ctx.log("slow step begins")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            if mode["slow"] == "watch":
                ctx.sleep(0.1)  # a step that waits looks at the lease as it waits
            else:
                time.sleep(0.1)  # a blocking call that cannot look (a slow Docker call)
        runs.add("slow", "done", ctx.lease.token)

    def quick(ctx) -> None:
        runs.add("quick", "done", ctx.lease.token)

    monkeypatch.setitem(steps_module.STEPS, "slow", slow)
    monkeypatch.setitem(steps_module.STEPS, "quick", quick)
    _instance, operation = create("fenced")  # queued: no worker runs it
    operation.steps.all().delete()
    Step.objects.bulk_create([Step(operation=operation, position=1, name="slow", title="Slow"),
                              Step(operation=operation, position=2, name="quick", title="Quick")])
    return runs, mode, operation


def _worker(operation_id: str, results: dict[str, str | None], name: str,
            start: threading.Barrier | None = None) -> threading.Thread:
    def work() -> None:
        close_old_connections()
        try:
            if start is not None:
                start.wait()
            results[name] = run_operation(operation_id)
        finally:
            close_old_connections()

    thread = threading.Thread(target=work, name=name)
    thread.start()
    return thread


def _heartbeat_fails_for_token(monkeypatch, token: int) -> list[float]:
    """The heartbeat of the worker holding `token` meets a database error at every beat."""
    failures: list[float] = []
    renew = Lease.renew

    def failing_renew(self: Lease) -> bool:
        if self.token == token:
            failures.append(time.monotonic())
            raise OperationalError("server closed the connection unexpectedly")
        return renew(self)

    monkeypatch.setattr(Lease, "renew", failing_renew)
    return failures


def _finished(operation: Operation) -> Operation:
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, (operation.status, operation.error_message)
    return operation


def test_two_workers_racing_for_one_operation_run_each_step_once(platform, recorded):
    runs, _, operation = recorded
    results: dict[str, str | None] = {}
    start = threading.Barrier(2)
    threads = [_worker(str(operation.id), results, name, start) for name in ("first", "second")]
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results.values(), key=str) == [None, OperationStatus.SUCCEEDED]  # one claimed, one did not
    operation = _finished(operation)
    assert operation.runs == 1
    assert runs.of("slow", "start") == [1] and runs.of("slow", "done") == [1] and runs.of("quick", "done") == [1]
    assert fresh(operation.instance).status == Status.RUNNING


def test_a_heartbeat_lost_to_a_database_error_abandons_the_step_and_the_next_worker_finishes_it_once(
        platform, recorded, monkeypatch):
    runs, _, operation = recorded
    failures = _heartbeat_fails_for_token(monkeypatch, token=1)
    results: dict[str, str | None] = {}
    first = _worker(str(operation.id), results, "first")
    wait_for(lambda: runs.of("slow", "start"), timeout=10, what="the first worker to start the slow step")
    # The first worker stops as soon as its heartbeat could not be renewed in time…
    first.join(timeout=10)
    assert not first.is_alive() and results["first"] is None
    assert len(failures) >= 2  # it kept trying through the errors before giving up
    assert runs.of("slow", "done") == [] and runs.of("quick", "done") == []
    operation.refresh_from_db()
    assert operation.status == OperationStatus.RUNNING and operation.runs == 1
    slow = operation.steps.get(name="slow")
    assert slow.status == StepStatus.RUNNING and slow.attempts == 1

    # …and once its lease has run out, the next worker claims it and finishes the step, once.
    results["second"] = None
    def claimed() -> bool:
        results["second"] = run_operation(str(operation.id))
        return results["second"] is not None
    wait_for(claimed, timeout=15, interval=0.2, what="a second worker to claim the operation")
    assert results["second"] == OperationStatus.SUCCEEDED
    operation = _finished(operation)
    assert operation.runs == 2
    assert runs.of("slow", "start") == [1, 2] and runs.of("slow", "done") == [2] and runs.of("quick", "done") == [2]
    slow = operation.steps.get(name="slow")
    assert slow.status == StepStatus.SUCCEEDED and slow.attempts == 2
    assert "resuming after an interruption" in slow.log


def test_a_worker_that_outlived_its_lease_in_a_blocking_call_writes_nothing_more(platform, recorded,
                                                                                monkeypatch):
    """The fence itself: the first worker cannot notice while it blocks; when its call returns,
    its write is refused (another worker claimed the operation) and it stops there."""
    runs, mode, operation = recorded
    mode["slow"] = "block"
    _heartbeat_fails_for_token(monkeypatch, token=1)
    results: dict[str, str | None] = {}
    first = _worker(str(operation.id), results, "first")
    wait_for(lambda: runs.of("slow", "start"), timeout=10, what="the first worker to start the slow step")

    def claimed() -> bool:
        results["second"] = run_operation(str(operation.id))
        return results["second"] is not None
    wait_for(claimed, timeout=15, interval=0.2, what="a second worker to claim the operation")
    first.join(timeout=30)
    assert not first.is_alive()
    assert results == {"first": None, "second": OperationStatus.SUCCEEDED}
    operation = _finished(operation)
    assert operation.runs == 2
    # Both started the slow step (the first could not be interrupted), each finished its own call,
    # but only the holder of the lease went on: the quick step ran once, by the second worker.
    assert sorted(runs.of("slow", "done")) == [1, 2]
    assert runs.of("quick", "done") == [2]
    quick = operation.steps.get(name="quick")
    assert quick.status == StepStatus.SUCCEEDED and quick.attempts == 1


@pytest.mark.postgres
def test_a_heartbeat_survives_a_dropped_database_connection(platform, recorded, caplog):
    """A real database error: PostgreSQL ends the heartbeat's session. The heartbeat reconnects at
    the next beat and keeps the lease, so a second worker trying all along never takes over."""
    from django.db import connection

    runs, _, operation = recorded
    results: dict[str, str | None] = {}
    first = _worker(str(operation.id), results, "first")

    def heartbeat_sessions() -> list[int]:
        with connection.cursor() as cursor:  # the renewal's own statement: it sets only heartbeat_at
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND query LIKE %s",
                           ['UPDATE "instances_operation" SET "heartbeat_at" = %'])
            return [row[0] for row in cursor.fetchall()]

    pids = wait_for(heartbeat_sessions, timeout=10, what="the heartbeat's first renewal")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
        assert cursor.fetchone()[0] is True
    while first.is_alive():
        assert run_operation(str(operation.id)) is None  # a second worker, trying all along
        time.sleep(0.2)
    assert results["first"] == OperationStatus.SUCCEEDED
    assert any("operation.heartbeat_failed" in record.getMessage() for record in caplog.records)
    operation = _finished(operation)
    assert operation.runs == 1
    assert runs.of("slow", "done") == [1] and runs.of("quick", "done") == [1]
