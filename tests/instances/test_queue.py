"""The queue backend follows the settings: SQLite by default, Redis when REDIS_URL is set."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from huey import RedisHuey, SqliteHuey
from huey.contrib.djhuey import HUEY


def test_queue_backend_matches_the_environment():
    if os.environ.get("REDIS_URL"):
        assert isinstance(HUEY, RedisHuey)
        assert settings.HUEY["connection"]["url"] == os.environ["REDIS_URL"]
    else:
        assert isinstance(HUEY, SqliteHuey)
        assert settings.HUEY["filename"].startswith(str(settings.DATA_DIR))
    assert HUEY.name == settings.HUEY["name"]


def _consumer_running(huey: Any, **options: Any) -> Any:
    """A consumer with thread workers, its signal handlers put back afterwards (it sets its own)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False, check_worker_health=False,
                                    **options)
    consumer.start()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    return consumer


def test_idle_worker_picks_up_new_work_without_waiting_for_its_poll_interval(tmp_path):
    """Enqueueing rings the workers' doorbell: an idle worker whose next look at the queue is
    seconds away runs the task at once (a provisioning or a wake no longer waits for the poll)."""
    # The settings' queue (SQLite's); with Redis, workers block on the queue and need no doorbell.
    huey_class = import_string("tenantry.core.queue.DoorbellSqliteHuey" if os.environ.get("REDIS_URL")
                               else settings.HUEY["huey_class"])
    huey = huey_class("doorbell-test", filename=str(tmp_path / "queue.sqlite3"))
    ran = threading.Event()

    @huey.task()
    def ping() -> None:
        ran.set()

    poll = 3.0
    consumer = _consumer_running(huey, initial_delay=poll, backoff=1.0, max_delay=poll)
    try:
        time.sleep(0.3)  # both workers have found the queue empty and sleep their interval
        enqueued = time.monotonic()
        ping()
        assert ran.wait(poll + 2), "the task never ran"
        waited = time.monotonic() - enqueued
    finally:
        consumer.stop(graceful=True)
    assert waited < 0.5, f"the task waited {waited:.2f} s for a worker (poll interval {poll} s)"


def test_doorbell_sockets_of_consumers_that_are_gone_are_removed(tmp_path):
    from tenantry.core.doorbell import ring
    from tenantry.core.queue import doorbell_dir

    huey = import_string("tenantry.core.queue.DoorbellSqliteHuey")("doorbell-test", filename=str(tmp_path / "q"))
    consumer = _consumer_running(huey, initial_delay=0.05, max_delay=0.05)
    directory = doorbell_dir(str(tmp_path / "q"))
    try:
        assert len(list(directory.iterdir())) == 1  # the running consumer's socket
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stale.bind(str(directory / "1-dead.sock"))
        stale.close()  # its process died without removing it
        assert ring(directory) == 1
        assert [p.name for p in directory.iterdir()] != [] and not (directory / "1-dead.sock").exists()
    finally:
        consumer.stop(graceful=True)
    assert list(directory.iterdir()) == []  # a consumer that stops removes its own
