"""Retrying a failed operation (issue 9, item 14): only the instance's latest operation, still
failed, on an instance that is not deleted; a provisioning never removes the volumes of an
instance that has run; and who may retry what follows the permission table."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenantry.accounts.models import ApiKeyScope, Role
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.core.errors import ApplicationError
from tenantry.instances import services
from tenantry.instances.deployment import build_deployment
from tenantry.instances.engine import run_operation
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status
from tenantry.instances.operations import create_operation
from tenantry.runtime.registry import runtime_for
from tests.conftest import installation_resources
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create, fresh, last_operation

pytestmark = [pytest.mark.docker, pytest.mark.traefik]

MISSING_IMAGE = {"tenantry/hello:1": "tenantry/gone:1"}


def _missing_image(settings) -> None:
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": MISSING_IMAGE}


def _images_back(settings) -> None:
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {}}


def _failed_provision(slug: str) -> tuple[Instance, Operation]:
    """A provisioning that fails at its first-start task (the app never came up)."""
    instance, operation = create(slug, app="brokenhook")
    assert operation.status == OperationStatus.FAILED and operation.kind == OperationKind.PROVISION
    return fresh(instance), operation


def _retry_refused(operation: Operation, code: str = "not_retryable") -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        services.operation_retry(operation=operation, actor="test")
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_a_deleted_instance_is_never_resurrected_by_retrying_its_old_provisioning(platform, docker_client,
                                                                                  settings):
    old, failed = _failed_provision("lazarus")
    delete = services.instance_delete(instance=old, actor="test")
    delete.refresh_from_db()
    assert delete.status == OperationStatus.SUCCEEDED and fresh(old).status == Status.DELETED

    refused = _retry_refused(failed)
    assert "deleted" in refused.message
    assert fresh(old).status == Status.DELETED
    assert old.operations.count() == 2  # nothing queued
    assert installation_resources(docker_client, str(old.id)) == []

    # The name is someone else's now; an operation that reaches a deleted instance anyway (queued
    # before it was deleted) is cancelled by the worker instead of failing on the name forever.
    new, _ = create("lazarus")
    assert fresh(new).status == Status.RUNNING
    _retry_refused(failed)
    stray = create_operation(instance=old, kind=OperationKind.PROVISION, actor="test")  # runs in-process
    stray.refresh_from_db()
    assert stray.status == OperationStatus.CANCELLED and stray.error_code == "instance_deleted"
    assert fresh(old).status == Status.DELETED
    assert run_operation(str(stray.id)) is None  # ended: nothing to claim again
    assert fresh(new).status == Status.RUNNING
    platform.wait_for_body(new.host, "Hello from lazarus")


def test_an_old_failed_provisioning_is_not_retried_once_the_instance_runs(platform, queued, docker_client,
                                                                         settings):
    instance, first = create("second-wind")  # queued: the worker has not run it yet
    _missing_image(settings)
    assert run_operation(str(first.id)) == OperationStatus.FAILED
    assert fresh(instance).status == Status.FAILED
    assert installation_resources(docker_client, str(instance.id)) == []  # a failed create leaves nothing
    _images_back(settings)
    # Starting an instance that never came up provisions it again, and this time it runs.
    again = services.instance_start(instance=fresh(instance), actor="test")
    assert again.kind == OperationKind.PROVISION
    assert run_operation(str(again.id)) == OperationStatus.SUCCEEDED
    assert fresh(instance).status == Status.RUNNING

    first.refresh_from_db()
    refused = _retry_refused(first)
    assert refused.details["latest_operation_id"] == str(again.id)
    assert last_operation(instance).pk == again.pk  # nothing queued
    assert fresh(instance).status == Status.RUNNING


def test_a_failed_provisioning_never_removes_the_volumes_of_an_instance_that_has_run(platform, queued,
                                                                                    docker_client, settings):
    instance, provision = create("has-run")
    assert run_operation(str(provision.id)) == OperationStatus.SUCCEEDED
    runtime = runtime_for(instance.server)
    assert runtime.exec(build_deployment(fresh(instance)), "web",
                        ["sh", "-c", "echo precious > /data/note.txt"]).exit_code == 0
    # A provisioning that does run on it (queued by an older release's retry) and fails: the
    # address goes to the status page, the volumes stay.
    _missing_image(settings)
    stray = create_operation(instance=fresh(instance), kind=OperationKind.PROVISION, actor="test")
    assert run_operation(str(stray.id)) == OperationStatus.FAILED
    _images_back(settings)
    volumes = [r for r in installation_resources(docker_client, str(instance.id)) if r.startswith("volume:")]
    assert len(volumes) == 1
    heal = services.instance_start(instance=fresh(instance), actor="test")
    assert heal.kind == OperationKind.START  # it has run: a start, not a new provisioning
    assert run_operation(str(heal.id)) == OperationStatus.SUCCEEDED
    assert platform.get(instance.host, "/data/note.txt", timeout=10).text.strip() == "precious"


def test_only_the_latest_failed_operation_is_retried_and_only_once(platform, settings):
    instance, _ = create("again")
    services.instance_stop(instance=instance, actor="test")
    _missing_image(settings)
    failed_start = services.instance_start(instance=fresh(instance), actor="test")
    failed_start.refresh_from_db()
    assert failed_start.status == OperationStatus.FAILED
    _images_back(settings)
    ok = services.operation_retry(operation=failed_start, actor="test")
    ok.refresh_from_db()
    assert ok.status == OperationStatus.SUCCEEDED and fresh(instance).status == Status.RUNNING
    refused = _retry_refused(failed_start)  # superseded by its own retry
    assert refused.details["latest_operation_id"] == str(ok.id)
    _retry_refused(ok)  # it succeeded
    # Another failure, then a decision made since without an operation of its own (billing
    # suspended the instance): the retry must not undo it.
    _missing_image(settings)
    services.instance_stop(instance=fresh(instance), actor="test")
    failed_again = services.instance_start(instance=fresh(instance), actor="test")
    failed_again.refresh_from_db()
    assert failed_again.status == OperationStatus.FAILED
    Instance.objects.filter(pk=instance.pk).update(desired_state="suspended")
    assert "suspended" in _retry_refused(failed_again).message
    assert last_operation(instance).pk == failed_again.pk


def _fabricated_failure(slug: str, kind: str) -> tuple[Instance, Operation]:
    """An instance whose latest operation failed (its provisioning stays queued, never run)."""
    instance, provision = create(slug)
    Operation.objects.filter(pk=provision.pk).update(status=OperationStatus.SUCCEEDED)
    failed = Operation.objects.create(instance=instance, kind=kind, status=OperationStatus.FAILED, actor="test")
    desired = {OperationKind.DELETE: "deleted", OperationKind.STOP: "stopped", OperationKind.SUSPEND: "suspended",
               OperationKind.ARCHIVE: "archived"}.get(kind, "running")  # as queuing it left it
    Instance.objects.filter(pk=instance.pk).update(status=Status.FAILED, desired_state=desired)
    return fresh(instance), failed


@pytest.mark.parametrize(("kind", "allowed"), [
    (OperationKind.PROVISION, {Role.OWNER, Role.ADMIN}),
    (OperationKind.DELETE, {Role.OWNER, Role.ADMIN}),
    (OperationKind.STOP, {Role.OWNER, Role.ADMIN, Role.MEMBER}),
    (OperationKind.WAKE, {Role.OWNER, Role.ADMIN, Role.MEMBER}),
    (OperationKind.SUSPEND, set()),  # billing's: retried by billing and the operators
    (OperationKind.ARCHIVE, set()),
])
def test_who_may_retry_follows_the_operation_kind(platform, queued, kind, allowed):
    team = operator_team()
    for role in (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.BILLING):
        instance, failed = _fabricated_failure(f"r-{role}-{kind}"[:30].rstrip("-"), kind)
        client = signed_in(make_user(f"{role}-{kind}@example.com", team=team, role=role))
        page = client.get(reverse("dashboard:instance", args=[team.slug, instance.slug]))
        url = reverse("dashboard:instance_retry", args=[team.slug, instance.slug, failed.id])
        response = client.post(url)
        if role == Role.BILLING:
            assert page.status_code == 404 and response.status_code == 404
        else:
            assert (url.encode() in page.content) == (role in allowed), (role, kind)
            assert response.status_code == 302
        retried = last_operation(instance)
        if role in allowed:
            assert retried.pk != failed.pk and retried.kind == kind and retried.status == OperationStatus.PENDING, \
                (role, kind)
        else:
            assert retried.pk == failed.pk, (role, kind)

    # API keys: a read-only key never retries; a read-write key acts like an admin.
    instance, failed = _fabricated_failure(f"k-{kind}"[:30], kind)
    for can_write in (False, True):
        scope = ApiKeyScope.WRITE if can_write else ApiKeyScope.READ
        key = api_key_create(team=team, name=f"k{can_write}", scope=scope).plaintext
        answer = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(f"/api/v1/operations/{failed.id}/retry")
        may = can_write and Role.ADMIN in allowed
        assert answer.status_code == (202 if may else 403), (can_write, kind, answer.content)
        if not may:
            assert answer.json()["code"] == "forbidden"
    assert (last_operation(instance).pk != failed.pk) == (Role.ADMIN in allowed)
