"""Holding a machine caller's request while an instance's app comes up (a hibernated instance
wakes, a new one is provisioned), then handing it over.

Webhooks (n8n's above all) are sent once by services that do not retry on a 503: the edge waits
for the app to be up (bounded by TENANTRY_EDGE_HOLD_SECONDS), then forwards the request to the
app itself and streams its answer back. Later requests go straight to the app through the proxy.

Holding costs no thread: waiting is an asyncio sleep between status reads that all the requests
held for one instance share, and the number held is bounded per instance and in all (beyond,
503 + Retry-After), so a burst of webhooks can neither exhaust the edge nor touch the dashboard
and API, which run in other processes.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from functools import reduce
from typing import IO, Any, TypeVar

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Exists, OuterRef, Q

from tenantry.edge.guard import cookie_reaches_dashboard, without_control_plane_cookies
from tenantry.edge.wire import EdgeRequest, EdgeResponse, file_chunks
from tenantry.instances.models import Instance, OperationStatus, Status, Step, StepStatus
from tenantry.instances.operations import HANDOVER_AFTER_STEP
from tenantry.routing.backends.base import EDGE_CREDENTIAL_HEADER

T = TypeVar("T")

# Statuses of an instance whose app is on its way to answering: a machine caller's request is
# held at the edge, then handed to the app. A wake above all (webhooks), and a new instance's
# first start too: a client that creates an instance through the API and then calls it, or a
# service given the address as soon as it is known, gets the app's answer, not a 503.
COMING_UP = frozenset({Status.PENDING, Status.PROVISIONING, Status.HIBERNATED, Status.WAKING, Status.STARTING,
                    Status.RUNNING})
# Status reads of a waking instance: every 10 ms at first, growing slowly (a wake takes tenths of
# a second) to every 100 ms.
POLL_FIRST_SECONDS = 0.01
POLL_GROWTH = 1.1
POLL_MAX_SECONDS = 0.1
# How long a caller refused for lack of room should wait before sending again.
FULL_RETRY_AFTER_SECONDS = 5

# Hop-by-hop headers (RFC 9110 7.6.1), and those the edge sets itself on the way to the app.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade"})
# (`expect`: the edge has read the whole body already, there is nothing to continue.)
_NOT_RELAYED_UP = _HOP_BY_HOP | {"content-length", "cookie", "expect", EDGE_CREDENTIAL_HEADER.lower()}


async def in_db_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ORM code off the event loop, in the loop's small shared pool (a few connections at
    most, however many requests wait), dropping connections that are too old or broken."""

    def call() -> T:
        close_old_connections()
        return function(*args, **kwargs)

    return await sync_to_async(call, thread_sensitive=False)()


class HoldFull(Exception):
    pass


class HoldSlots:
    """How many requests are held, per instance and in all. One event loop owns it, so plain
    counters are enough: nothing awaits between a check and its increment."""

    def __init__(self) -> None:
        self.total = 0
        self.by_instance: dict[str, int] = {}

    def take(self, instance_id: str) -> Slot:
        conf = settings.TENANTRY
        if (self.total >= conf["EDGE_HOLD_TOTAL"]
                or self.by_instance.get(instance_id, 0) >= conf["EDGE_HOLD_PER_INSTANCE"]):
            raise HoldFull()
        self.total += 1
        self.by_instance[instance_id] = self.by_instance.get(instance_id, 0) + 1
        return Slot(self, instance_id)


class Slot:
    def __init__(self, slots: HoldSlots, instance_id: str) -> None:
        self._slots = slots
        self._instance_id = instance_id
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._slots.total -= 1
        left = self._slots.by_instance[self._instance_id] - 1
        if left:
            self._slots.by_instance[self._instance_id] = left
        else:
            del self._slots.by_instance[self._instance_id]


class WakeWatch:
    """Waits for instances to be running: one status poll per instance, shared by every request
    held for it. A worker that sees an app answer rings the edge's doorbell (`rung`, wired by
    the edge app): every poll then looks at once instead of at the end of its interval, and the
    poll of an instance the ring names as ready ends without reading the database."""

    def __init__(self) -> None:
        self._polls: dict[str, asyncio.Task[bool | None]] = {}
        self._ring: asyncio.Event | None = None
        self._ready: set[str] = set()

    def rung(self, ready: set[str] | frozenset[str] = frozenset()) -> None:
        # Only for a poll waiting now: a "ready" kept for later would hand the request of a later
        # wake to an app not yet up.
        self._ready |= {i for i in ready if i in self._polls and not self._polls[i].done()}
        if self._ring is not None:
            self._ring.set()
            self._ring = None

    def _next_ring(self) -> asyncio.Event:
        if self._ring is None:
            self._ring = asyncio.Event()
        return self._ring

    async def until_running(self, instance_id: str, *, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            poll = self._polls.get(instance_id)
            if poll is None or poll.done():
                poll = asyncio.ensure_future(self._poll(instance_id, seconds=timeout))
                self._polls[instance_id] = poll
                poll.add_done_callback(lambda done: self._forget(instance_id, done))
            try:
                outcome = await asyncio.wait_for(asyncio.shield(poll), remaining)
            except TimeoutError:
                return False
            if outcome is not None:
                return outcome
        return False

    def _forget(self, instance_id: str, poll: asyncio.Task[bool | None]) -> None:
        if self._polls.get(instance_id) is poll:
            del self._polls[instance_id]
            self._ready.discard(instance_id)

    async def _poll(self, instance_id: str, *, seconds: float) -> bool | None:
        """True once the app answers, False once it stopped waking (failed, stopped…), None after
        `seconds`. Looks often at first (a small app is up a few tenths of a second after the
        request), then less: one cheap read per instance, however many requests wait for it;
        a ring of the doorbell ends the wait between two looks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        delay = POLL_FIRST_SECONDS
        while True:
            ring = self._next_ring()  # taken before the read: a ring during it is not missed
            if instance_id in self._ready:
                self._ready.discard(instance_id)
                return True
            answers = await in_db_thread(app_answers, instance_id)
            if answers is not None:
                return answers
            if loop.time() > deadline:
                return None
            try:
                await asyncio.wait_for(ring.wait(), delay)
            except TimeoutError:
                delay = min(delay * POLL_GROWTH, POLL_MAX_SECONDS)


# HANDOVER_AFTER_STEP as a condition on steps, built once (app_answers runs at every poll).
_HANDOVER_STEPS = reduce(operator.or_, (Q(operation__kind=kind, name=step)
                                        for kind, step in HANDOVER_AFTER_STEP.items()))


def app_answers(instance_id: str) -> bool | None:
    """True when the instance's app answers requests: it runs, or the operation bringing it up
    passed the step after which it may serve (HANDOVER_AFTER_STEP: the held request then goes to
    the app while the proxy still switches the route, which the app's first answer need not wait
    for). False once it stopped coming up (failed, stopped…), None while it comes up."""
    ready = Step.objects.filter(_HANDOVER_STEPS, operation__instance=OuterRef("pk"),
                                operation__status=OperationStatus.RUNNING, status=StepStatus.SUCCEEDED)
    row = Instance.objects.filter(pk=instance_id).annotate(ready=Exists(ready)).values_list(
        "status", "ready").first()
    if row is None or row[0] not in COMING_UP:
        return False
    if row[0] == Status.RUNNING or row[1]:
        return True
    return None


def relay_headers(request: EdgeRequest, *, body_size: int) -> list[tuple[str, str]]:
    """The visitor's headers for the app: not hop-by-hop ones, not the proxy's credential, and
    no control-plane cookie (the app's own cookies are kept)."""
    headers = [(name, value) for name, value in request.headers if name not in _NOT_RELAYED_UP]
    cookies = without_control_plane_cookies("; ".join(request.header_values("cookie")))
    if cookies:
        headers.append(("cookie", cookies))
    if body_size or request.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
        headers.append(("content-length", str(body_size)))
    return headers


def answer_headers(upstream: httpx.Response) -> list[tuple[str, str]]:
    """The app's headers for the visitor, without cookies a browser would send to the dashboard."""
    headers = []
    for raw_name, raw_value in upstream.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name.lower() in _HOP_BY_HOP:
            continue
        if name.lower() == "set-cookie" and cookie_reaches_dashboard(value):
            continue
        headers.append((name, value))
    headers.append(("X-Tenantry-State", "woken"))
    return headers


async def relay(client: httpx.AsyncClient, request: EdgeRequest, *, upstream: str, rest: str, body: IO[bytes],
                body_size: int, slot: Slot) -> EdgeResponse:
    """Forward the held request to the app (no redirect followed) and stream its answer back.
    The slot is released when the answer has been streamed (or could not be)."""
    url = f"{upstream}/{rest}" + (f"?{request.query_string}" if request.query_string else "")
    outgoing = client.build_request(request.method, url, headers=relay_headers(request, body_size=body_size),
                                    content=file_chunks(body) if body_size else b"")
    try:
        answer = await client.send(outgoing, stream=True, follow_redirects=False)
    except httpx.HTTPError:
        body.close()
        slot.release()
        return EdgeResponse(502, [("Content-Type", "text/plain"), ("X-Tenantry-State", "woken")],
                            b"The app did not answer.")
    if not body_size:
        body.close()
    return EdgeResponse(answer.status_code, answer_headers(answer), stream=StreamedAnswer(answer, slot))


class StreamedAnswer:
    """The app's answer, passed on chunk by chunk as it arrives (never held whole); closing it,
    whether streamed to the end or abandoned, frees the upstream connection and the slot."""

    def __init__(self, answer: httpx.Response, slot: Slot) -> None:
        self._answer = answer
        self._chunks = answer.aiter_raw()
        self._slot = slot

    def __aiter__(self) -> StreamedAnswer:
        return self

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        try:
            await self._answer.aclose()
        finally:
            self._slot.release()
