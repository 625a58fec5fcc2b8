"""A request held while an instance wakes goes to the app as soon as the wake saw the app
healthy, without waiting for the proxy to switch the route and the operation to end (issue 15:
that wait was a third of a wake's time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import pytest

from tenantry.core.doorbell import close, edge_doorbells, listen, ready_message, ring
from tenantry.edge import holding
from tenantry.edge.app import EdgeApp
from tenantry.edge.holding import WakeWatch, app_answers, in_db_thread
from tenantry.instances import services
from tenantry.instances.lease import Lease
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status, Step, StepStatus
from tenantry.instances.operations import PLANS
from tenantry.instances.steps import STEPS
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]


def waking(instance: Instance, kind: str = OperationKind.WAKE) -> Operation:
    """The instance as a worker leaves it in the middle of waking: status WAKING, the operation
    running, its steps not yet run."""
    Instance.objects.filter(pk=instance.pk).update(status=Status.WAKING)
    operation = Operation.objects.create(instance=instance, kind=kind, status=OperationStatus.RUNNING, runs=1)
    Step.objects.bulk_create([Step(operation=operation, position=position, name=name, title=name)
                              for position, name in enumerate(PLANS[kind], start=1)])
    return operation


@contextlib.contextmanager
def edge_doorbell() -> Iterator[Callable[[], list[bytes]]]:
    """A doorbell where the edge listens; yields a function that returns the rings received since
    it was last called."""
    bound = listen(edge_doorbells())
    assert bound is not None
    listener, path = bound
    listener.settimeout(0)

    def received() -> list[bytes]:
        messages = []
        with contextlib.suppress(BlockingIOError):
            while message := listener.recv(64):
                messages.append(message)
        return messages

    try:
        yield received
    finally:
        close(listener, path)


def until_running(instance: Instance, timeout: float) -> bool:
    return asyncio.run(WakeWatch().until_running(str(instance.pk), timeout=timeout))


def test_held_request_is_handed_over_once_the_wake_saw_the_app_healthy(platform):
    instance, operation = create("handover")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    wake = waking(instance)
    assert app_answers(str(instance.pk)) is None
    assert until_running(instance, timeout=0.3) is False  # still waking: the request keeps waiting

    wake.steps.filter(name__in=["refresh_stale_containers", "start_containers"]).update(status=StepStatus.SUCCEEDED)
    assert app_answers(str(instance.pk)) is None  # started is not enough: the app must answer
    wake.steps.filter(name="wait_healthy").update(status=StepStatus.SUCCEEDED)
    # The route is still the edge's and the operation runs: the app answers all the same.
    assert wake.steps.get(name="publish_route").status == StepStatus.PENDING
    assert app_answers(str(instance.pk)) is True
    assert until_running(instance, timeout=5) is True


def test_only_a_running_operation_that_restarts_a_set_up_app_hands_over_early(platform):
    instance, operation = create("nohandover")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    # A finished wake's health check says nothing about now.
    old = waking(instance)
    old.steps.update(status=StepStatus.SUCCEEDED)
    Operation.objects.filter(pk=old.pk).update(status=OperationStatus.FAILED)
    assert app_answers(str(instance.pk)) is None
    # Nor does a kind whose health check is followed by work before the app may serve (an update
    # migrates, a restore loads data): the request waits for the status.
    Instance.objects.filter(pk=instance.pk).update(status=Status.STARTING)
    update = Operation.objects.create(instance=instance, kind=OperationKind.UPDATE, status=OperationStatus.RUNNING,
                                      runs=1)
    Step.objects.create(operation=update, position=1, name="wait_healthy", title="", status=StepStatus.SUCCEEDED)
    assert app_answers(str(instance.pk)) is None
    Instance.objects.filter(pk=instance.pk).update(status=Status.RUNNING)
    assert app_answers(str(instance.pk)) is True
    Instance.objects.filter(pk=instance.pk).update(status=Status.FAILED)
    assert app_answers(str(instance.pk)) is False


def test_a_provisioning_hands_over_once_its_first_start_tasks_ran_not_at_its_health_check(platform):
    """A client that creates an instance and calls it at once is held, then answered by the app
    (before: the edge answered it 503 "being set up" until the proxy routed to the app). Not
    before the first-start tasks ran: the app's setup page must not be reachable before."""
    instance, operation = create("firstcall", app="hookedhello")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    Instance.objects.filter(pk=instance.pk).update(status=Status.PENDING)
    assert app_answers(str(instance.pk)) is None  # queued: it comes up, the request waits
    provision = waking(instance, OperationKind.PROVISION)
    Instance.objects.filter(pk=instance.pk).update(status=Status.PROVISIONING)
    assert app_answers(str(instance.pk)) is None

    provision.steps.filter(position__lte=PLANS[OperationKind.PROVISION].index("wait_healthy") + 1).update(
        status=StepStatus.SUCCEEDED)
    assert app_answers(str(instance.pk)) is None  # healthy, its first-start tasks not yet run
    provision.steps.filter(name="post_provision").update(status=StepStatus.SUCCEEDED)
    assert provision.steps.get(name="publish_route").status == StepStatus.PENDING
    assert app_answers(str(instance.pk)) is True
    assert until_running(instance, timeout=5) is True

    # A clone fills its volumes from a backup: nothing reaches it before the operation ended.
    Operation.objects.filter(pk=provision.pk).update(status=OperationStatus.SUCCEEDED)
    clone = Operation.objects.create(instance=instance, kind=OperationKind.CLONE, status=OperationStatus.RUNNING,
                                     runs=1)
    Step.objects.bulk_create([Step(operation=clone, position=position, name=name, title=name,
                                   status=StepStatus.SUCCEEDED)
                              for position, name in enumerate(PLANS[OperationKind.CLONE][:-1], start=1)])
    assert app_answers(str(instance.pk)) is None
    Instance.objects.filter(pk=instance.pk).update(status=Status.FAILED)
    assert app_answers(str(instance.pk)) is False


def test_a_provisioning_rings_the_edge_once_its_first_start_tasks_ran(platform):
    """The ring that lets a held request go comes after the first-start tasks, before the route
    to the app is published (whose reload the request then need not wait for)."""
    rings: dict[str, int] = {}
    with edge_doorbell() as received:

        def counting(name: str):
            original = STEPS[name]

            def step(ctx) -> None:
                rings[name] = len(received())  # the rings since the step before
                original(ctx)
            return step

        with pytest.MonkeyPatch.context() as patch:
            for name in ("post_provision", "publish_route"):
                patch.setitem(STEPS, name, counting(name))
            _, operation = create("ringsfirst", app="hookedhello")
        assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert rings["post_provision"] == 0  # not once healthy: the first-start tasks had not run
    assert rings["publish_route"] >= 1


def test_a_held_request_works_out_the_apps_address_while_it_waits(platform, monkeypatch):
    """The look-up of the app's address (a read and the spec's rendering) happens while the app
    comes up, not between the moment it may serve and the first answer."""
    from tenantry.edge import app as edge_app
    from tenantry.edge.wire import EdgeRequest

    instance, operation = create("earlyaddress")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    wake = waking(instance)
    ready_when_looked_up: list[bool | None] = []
    original = edge_app._upstream_url

    def recording(instance_id: str) -> str:
        ready_when_looked_up.append(app_answers(str(getattr(instance_id, "pk", instance_id))))
        return original(instance_id)

    monkeypatch.setattr(edge_app, "_upstream_url", recording)

    def healthy() -> None:
        wake.steps.filter(name="wait_healthy").update(status=StepStatus.SUCCEEDED)

    async def scenario() -> tuple[int, bytes]:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        request = EdgeRequest.from_scope({"method": "GET", "path": f"/_edge/{instance.pk}/", "headers": []}, receive)
        held = asyncio.ensure_future(EdgeApp().hold(request, instance, ""))
        await asyncio.sleep(0.3)
        assert not held.done()
        await in_db_thread(healthy)
        answer = await asyncio.wait_for(held, 10)
        assert answer is not None and answer.stream is not None
        body = b"".join([chunk async for chunk in answer.stream])
        await answer.discard()
        return answer.status, body

    status, body = asyncio.run(scenario())
    assert (status, b"Hello from earlyaddress" in body) == (200, True)
    assert ready_when_looked_up == [None]  # once, while the app was still coming up


async def _lifespan(app: EdgeApp, message: str) -> asyncio.Task:
    """Start (or, given the task back, stop) the edge app's lifespan, as uvicorn does."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": message})
    assert (await outbox.get())["type"] == f"{message}.complete"
    task.inbox = inbox  # type: ignore[attr-defined]
    task.outbox = outbox  # type: ignore[attr-defined]
    return task


def test_held_request_goes_to_the_app_when_the_worker_rings_not_at_the_next_poll(platform, monkeypatch):
    """The worker rings the edge's doorbell once the app answers: a held request is handed over
    at once, not when the edge next looks (up to POLL_MAX_SECONDS later; made 3 s here)."""
    instance, operation = create("rung")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    wake = waking(instance)
    monkeypatch.setattr(holding, "POLL_FIRST_SECONDS", 3.0)
    monkeypatch.setattr(holding, "POLL_MAX_SECONDS", 3.0)

    def healthy() -> None:
        wake.steps.filter(name="wait_healthy").update(status=StepStatus.SUCCEEDED)

    async def scenario() -> tuple[bool, float]:
        app = EdgeApp()
        lifespan = await _lifespan(app, "lifespan.startup")
        try:
            held = asyncio.ensure_future(app.wakes.until_running(str(instance.pk), timeout=10))
            await asyncio.sleep(0.3)  # the edge has looked once; its next look is 3 s away
            await in_db_thread(healthy)
            loop = asyncio.get_running_loop()
            rung_at = loop.time()
            assert ring(edge_doorbells()) >= 1  # what the worker does after wait_healthy
            answered = await asyncio.wait_for(held, 5)
            return answered, loop.time() - rung_at
        finally:
            await lifespan.inbox.put({"type": "lifespan.shutdown"})  # type: ignore[attr-defined]
            assert (await lifespan.outbox.get())["type"] == "lifespan.shutdown.complete"  # type: ignore[attr-defined]

    answered, waited = asyncio.run(scenario())
    assert answered is True
    assert waited < 0.5, f"the held request waited {waited:.2f} s after the ring"
    assert list(edge_doorbells().glob("*.sock")) == []  # the edge removed its doorbell on the way out


def test_a_ring_naming_the_instance_ends_its_wait_without_a_database_read(platform):
    """The worker's ring says which app may serve: the held request goes at once, without the
    edge reading that back (~8 ms under load). A "ready" for an instance nobody waits for is
    not kept: a later wait must not take it for its own."""
    instance, operation = create("namedring")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    waking(instance)  # the database says it still comes up, and keeps saying so
    instance_id = str(instance.pk)

    async def scenario() -> tuple[bool, bool]:
        app = EdgeApp()
        lifespan = await _lifespan(app, "lifespan.startup")
        try:
            assert ring(edge_doorbells(), ready_message(instance_id)) >= 1  # nobody waits yet
            await asyncio.sleep(0.1)
            early = await app.wakes.until_running(instance_id, timeout=0.5)
            held = asyncio.ensure_future(app.wakes.until_running(instance_id, timeout=5))
            await asyncio.sleep(0.2)
            assert not held.done()
            assert ring(edge_doorbells(), ready_message(instance_id)) >= 1
            return early, await asyncio.wait_for(held, 2)
        finally:
            await lifespan.inbox.put({"type": "lifespan.shutdown"})  # type: ignore[attr-defined]
            assert (await lifespan.outbox.get())["type"] == "lifespan.shutdown.complete"  # type: ignore[attr-defined]

    early, answered = asyncio.run(scenario())
    assert early is False
    assert answered is True


def test_a_wake_rings_the_edge_once_the_app_is_healthy(platform):
    instance, operation = create("ringer")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    services.instance_hibernate(instance=instance, actor="test")
    assert fresh(instance).status == Status.HIBERNATED
    with edge_doorbell() as received:
        services.instance_wake(instance=fresh(instance), actor="test")  # run by the (immediate) queue
        assert fresh(instance).status == Status.RUNNING
        rings = len(received())
    assert rings >= 2  # once healthy (a held request may go), once the wake ended


def test_a_wake_hands_over_before_writing_that_the_app_answered(platform, monkeypatch):
    """The ring naming the instance goes out as soon as the worker saw the app answer: the held
    request does not wait for the step's success to be written (a write on the first answer's
    path), and is rung again once it is (a request that read the step in between)."""
    instance, operation = create("ringsearly")
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    services.instance_hibernate(instance=instance, actor="test")
    before_write: list[list[bytes]] = []
    original = Lease.update_step
    with edge_doorbell() as received:

        def update_step(lease: Lease, step: Step, **fields) -> None:
            if step.name == "wait_healthy" and fields.get("status") == StepStatus.SUCCEEDED:
                before_write.append(received())
            original(lease, step, **fields)

        monkeypatch.setattr(Lease, "update_step", update_step)
        services.instance_wake(instance=fresh(instance), actor="test")  # run by the (immediate) queue
        after_write = received()
    assert fresh(instance).status == Status.RUNNING
    ready = ready_message(str(instance.pk))
    assert before_write == [[ready]]
    assert (before_write[0] + after_write).count(ready) == 2
