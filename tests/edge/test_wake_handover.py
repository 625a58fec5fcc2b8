"""A request held while an instance wakes goes to the app as soon as the wake saw the app
healthy, without waiting for the proxy to switch the route and the operation to end (issue 15:
that wait was a third of a wake's time)."""

from __future__ import annotations

import asyncio

import pytest

from tenantry.edge.holding import WakeWatch, app_answers
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status, Step, StepStatus
from tenantry.instances.operations import PLANS
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker]


def waking(instance: Instance, kind: str = OperationKind.WAKE) -> Operation:
    """The instance as a worker leaves it in the middle of waking: status WAKING, the operation
    running, its steps not yet run."""
    Instance.objects.filter(pk=instance.pk).update(status=Status.WAKING)
    operation = Operation.objects.create(instance=instance, kind=kind, status=OperationStatus.RUNNING, runs=1)
    Step.objects.bulk_create([Step(operation=operation, position=position, name=name, title=name)
                              for position, name in enumerate(PLANS[kind], start=1)])
    return operation


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
