"""The lease a worker holds on an operation while it runs it, fenced by a claim counter.

Claiming increments `Operation.runs` with a compare-and-set; the new value is the worker's
fencing token. Every later write of the operation's or its steps' rows is conditional on that
token, so a worker whose lease ran out (its heartbeat stopped, another worker claimed the
operation) finds its next write refused — 0 rows — and stops without writing anything else.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from tenantry.core.logging import get_logger
from tenantry.instances.models import Operation, OperationStatus, Step

log = get_logger(__name__)


class LeaseLost(Exception):
    """This worker no longer holds the operation: it must stop at once and write nothing more."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.TENANTRY["OPERATION_LEASE_SECONDS"])


def claim(operation_id: str) -> int | None:
    """Take an operation that is pending, or running with an expired heartbeat (its worker died
    or lost the database). Returns the fencing token, or None when another worker holds it.

    Compare-and-set on the claim counter: of two workers claiming at once, one updates the row,
    the other finds the counter moved and gets 0 rows.
    """
    current = Operation.objects.filter(pk=operation_id).values_list("runs", flat=True).first()
    if current is None:
        return None
    now = timezone.now()
    claimed = (
        Operation.objects.filter(pk=operation_id, runs=current)
        .filter(Q(status=OperationStatus.PENDING)
                | Q(status=OperationStatus.RUNNING, heartbeat_at__lt=now - lease_duration()))
        .update(status=OperationStatus.RUNNING, runs=current + 1, heartbeat_at=now, worker=worker_id(),
                started_at=Coalesce("started_at", now), updated_at=now)
    )
    return current + 1 if claimed == 1 else None


class Lease:
    """A claimed operation: its token, fenced writes, and a heartbeat that keeps it alive.

    The heartbeat runs in a side thread. A database error does not kill it: it tries again at the
    next beat, and only when it has not renewed the lease for nearly a whole lease period (another
    worker may claim it any moment) or finds the token moved does it declare the lease lost.
    """

    def __init__(self, operation_id: str, token: int):
        self.operation_id = operation_id
        self.token = token
        self.interval = max(0.5, settings.TENANTRY["OPERATION_LEASE_SECONDS"] / 3)
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{operation_id}")

    # --- fenced writes -----------------------------------------------------------------------
    def _mine(self) -> Q:
        return Q(pk=self.operation_id, runs=self.token, status=OperationStatus.RUNNING)

    def update_operation(self, **fields: Any) -> None:
        self.check()
        if not Operation.objects.filter(self._mine()).update(**fields):
            self._lose("the operation row no longer carries this worker's token")

    def update_step(self, step: Step, **fields: Any) -> None:
        self.check()
        # One statement: the step is written only while the operation still carries our token.
        if not Step.objects.filter(pk=step.pk, operation__runs=self.token,
                                   operation__status=OperationStatus.RUNNING).update(**fields):
            self._lose(f"step {step.name} could not be written")

    def finish_operation(self, **fields: Any) -> None:
        """The final transition. Call inside a transaction: on PostgreSQL the UPDATE locks the row,
        so no claim can slip in before the instance's own update commits with it."""
        assert transaction.get_connection().in_atomic_block
        self.update_operation(**fields)

    # --- heartbeat ---------------------------------------------------------------------------
    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        if self._lost.is_set():
            raise LeaseLost(self.operation_id)

    def sleep(self, seconds: float) -> None:
        """Wait, but wake at once (LeaseLost) when the lease is lost."""
        if self._lost.wait(seconds):
            raise LeaseLost(self.operation_id)

    def _lose(self, why: str) -> None:
        if not self._lost.is_set():
            log.warning("operation.lease_lost", operation=self.operation_id, token=self.token, why=why)
        self._lost.set()
        raise LeaseLost(self.operation_id)

    def renew(self) -> bool:
        """One heartbeat: True while the operation still carries our token."""
        return Operation.objects.filter(self._mine()).update(heartbeat_at=timezone.now()) == 1

    def _beat(self) -> None:
        lease = settings.TENANTRY["OPERATION_LEASE_SECONDS"]
        renewed_at = time.monotonic()
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self.renew():
                        self._lost.set()
                        log.warning("operation.lease_lost", operation=self.operation_id, token=self.token,
                                    why="another worker claimed it")
                        return
                    renewed_at = time.monotonic()
                except DatabaseError as exc:
                    # The connection may be broken: drop it, the next beat reconnects.
                    log.warning("operation.heartbeat_failed", operation=self.operation_id, error=str(exc))
                    with contextlib.suppress(DatabaseError):
                        connection.close()
                # Before another worker may take it over (lease elapsed since the last renewal),
                # stop: better to abandon than to run a step twice at the same time.
                if time.monotonic() - renewed_at >= lease - self.interval:
                    self._lost.set()
                    log.warning("operation.lease_lost", operation=self.operation_id, token=self.token,
                                why="the heartbeat could not be renewed in time")
                    return
        finally:
            connection.close()

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
