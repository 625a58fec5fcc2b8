"""The threads between a backup's stages: order kept, errors carried, early stops clean up."""

from __future__ import annotations

import threading
import time

import pytest

from tenantry.backups.pipeline import ordered_map, prefetch


def test_prefetch_keeps_order_and_stays_bounded():
    produced = []

    def source():
        for i in range(50):
            produced.append(i)
            yield i

    stream = prefetch(source(), depth=3)
    assert next(stream) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 3 + 1  # taken, queued, and the one waiting to be queued
    assert [0, *stream] == list(range(50))


def test_prefetch_raises_the_source_error_in_the_consumer_after_the_items_before_it():
    def source():
        yield b"a"
        yield b"b"
        raise ValueError("the engine went away")

    got = []
    with pytest.raises(ValueError, match="went away"):
        for item in prefetch(source(), depth=8):
            got.append(item)
    assert got == [b"a", b"b"]


def test_stopping_early_closes_the_source_in_its_own_thread():
    closed_in = []

    def source():
        try:
            while True:
                yield b"x" * 1024
        finally:
            closed_in.append(threading.current_thread().name)

    stream = prefetch(source(), depth=2, name="export")
    next(stream)
    stream.close()
    assert closed_in == ["tenantry-export"]
    assert not [t for t in threading.enumerate() if t.name == "tenantry-export"]


def test_ordered_map_gives_results_in_order_and_stops_at_the_first_error():
    def slow_square(n: int) -> int:
        time.sleep(0.01 * (5 - n % 5))
        if n == 7:
            raise RuntimeError("frame 7 is damaged")
        return n * n

    assert list(ordered_map(slow_square, range(7), workers=2, window=3)) == [n * n for n in range(7)]
    got = []
    with pytest.raises(RuntimeError, match="frame 7"):
        for value in ordered_map(slow_square, range(20), workers=2, window=3):
            got.append(value)
    assert got == [n * n for n in range(7)]
