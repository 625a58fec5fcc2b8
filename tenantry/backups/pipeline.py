"""Overlapping the stages of a backup or restore: read → seal → upload and download → unseal →
write each run in their own thread, joined by bounded queues, so that two cores work at once
(sockets, zstd, AES-GCM and hashlib release the GIL) while memory stays a few chunks per stage.

`prefetch(source)` runs the iteration of `source` in a worker thread, `depth` items ahead of
the consumer. An exception in the source is raised in the consumer, in order; a consumer that
stops early (an error downstream, `close()`) stops the worker and closes the source *in the
worker's thread* (a generator cannot be closed by another thread while it runs), and waits for it.

`ordered_map(fn, items)` applies `fn` to items in a small thread pool, at most `window` at a time,
and yields the results in the order of the items.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()
_POLL_SECONDS = 0.2


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(source: Iterable[T], *, depth: int = 4, name: str = "prefetch") -> Generator[T, None, None]:
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name=f"tenantry-{name}", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 2, window: int = 4) -> Iterator[R]:
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tenantry-seal") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
