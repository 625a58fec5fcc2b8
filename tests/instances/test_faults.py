"""Bad input and faults: clear errors, nothing half-created, nothing left behind."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tenantry.accounts.services.teams import operator_team
from tenantry.core.errors import ApplicationError
from tenantry.instances import services
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status
from tenantry.instances.operations import create_operation
from tests.conftest import installation_resources
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]


@pytest.mark.parametrize(("slug", "code"), [
    ("www", "reserved_slug"), ("api", "reserved_slug"), ("admin", "reserved_slug"),
    ("Bad_Slug", "invalid_slug"), ("ab", "invalid_slug"), ("-lead", "invalid_slug"), ("trail-", "invalid_slug"),
    ("dou--ble", "invalid_slug"), ("9start", "invalid_slug"), ("x" * 31, "invalid_slug"), ("a.b", "invalid_slug"),
])
def test_bad_slugs_are_refused_and_nothing_is_written(platform, docker_client, slug, code):
    with pytest.raises(ApplicationError) as caught:
        services.instance_create(team=operator_team(), slug=slug, app="hello", actor="test")
    assert caught.value.code == code
    assert caught.value.details["field"] == "slug"
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0
    assert installation_resources(docker_client) == []


def test_duplicate_slug_and_unknown_app(platform):
    create("twin")
    with pytest.raises(ApplicationError) as dup:
        services.instance_create(team=operator_team(), slug="twin", app="hello", actor="test")
    assert dup.value.code == "slug_taken" and dup.value.status == 409
    with pytest.raises(ApplicationError) as unknown:
        services.instance_create(team=operator_team(), slug="lonely", app="nosuchapp", actor="test")
    assert unknown.value.code == "unknown_app" and "hello" in unknown.value.message
    assert Instance.objects.count() == 1


def test_missing_image_fails_fast_with_a_clear_message(platform, docker_client):
    for app in ("ghostimage", "erpnext"):  # n8n and WordPress run on the images the tests build
        with pytest.raises(ApplicationError) as caught:
            services.instance_create(team=operator_team(), slug=f"img-{app}", app=app, actor="test")
        assert caught.value.code == "image_missing"
        assert "not present on the Docker host" in caught.value.message
        assert caught.value.details["missing_images"]
    assert Instance.objects.count() == 0
    assert installation_resources(docker_client) == []


def test_docker_unreachable_is_a_503_and_writes_nothing(platform, settings):
    from tenantry.core.backends import reset_backends

    settings.RUNTIME_BACKENDS = {"default": {"BACKEND": "tenantry.runtime.backends.docker.DockerRuntime",
                                             "OPTIONS": {"base_url": "unix:///nonexistent/docker.sock"}}}
    reset_backends()
    with pytest.raises(ApplicationError) as caught:
        services.instance_create(team=operator_team(), slug="nodocker", app="hello", actor="test")
    assert caught.value.status == 503 and caught.value.code == "runtime_unavailable"
    assert "unreachable" in caught.value.message
    assert Instance.objects.count() == 0


def test_failed_first_start_task_fails_the_operation_and_leaves_nothing(platform, docker_client):
    instance, operation = create("boom", app="brokenhook")
    assert operation.status == OperationStatus.FAILED
    assert operation.error_code == "hook_failed"
    assert "exit code 3" in operation.error_message
    assert "schema migration failed" in operation.error_message  # the app's own words
    assert "Traceback" not in operation.error_message
    failed_step = operation.steps.get(status="failed")
    assert failed_step.name == "post_provision"
    assert fresh(instance).status == Status.FAILED
    assert installation_resources(docker_client, str(instance.id)) == []
    # the address shows an "unavailable" page rather than a proxy error
    page = platform.wait_until(instance.host, lambda r: r.headers.get("X-Tenantry-State") == "failed")
    assert page.status_code == 503


def test_image_removed_after_create_fails_the_check_step(platform, docker_client, settings):
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {}}
    instance, operation = create("vanish")
    assert operation.status == OperationStatus.SUCCEEDED
    services.instance_stop(instance=instance, actor="test")
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {"tenantry/hello:1": "tenantry/gone:1"}}
    start = services.instance_start(instance=fresh(instance), actor="test")
    start.refresh_from_db()
    assert start.status == OperationStatus.FAILED and start.error_code == "image_missing"
    assert "tenantry/gone:1" in start.error_message


def test_one_active_operation_per_instance_is_a_database_rule(platform):
    instance, _ = create("single")
    with transaction.atomic():
        first = Operation.objects.create(instance=instance, kind=OperationKind.STOP)
        with pytest.raises(IntegrityError), transaction.atomic():
            Operation.objects.create(instance=instance, kind=OperationKind.START)
        first.delete()


def test_a_second_action_while_one_runs_is_a_conflict(platform):
    instance, _ = create("busy")
    with transaction.atomic():
        # Hold the slot without running it (rolled back at the end of the block).
        create_operation(instance=instance, kind=OperationKind.RESTART, actor="test")
        with pytest.raises(ApplicationError) as caught:
            services.instance_stop(instance=instance, actor="test")
        assert caught.value.code == "operation_in_progress" and caught.value.status == 409
        transaction.set_rollback(True)


def test_invalid_transitions_are_refused(platform):
    instance, _ = create("orderly")
    with pytest.raises(ApplicationError) as caught:
        services.instance_wake(instance=instance, actor="test")
    assert caught.value.code == "invalid_state"
    services.instance_stop(instance=instance, actor="test")
    with pytest.raises(ApplicationError):
        services.instance_hibernate(instance=fresh(instance), actor="test")


def test_retry_of_a_failed_operation(platform, settings):
    instance, _ = create("phoenix")
    services.instance_stop(instance=instance, actor="test")
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {"tenantry/hello:1": "tenantry/gone:1"}}
    failed = services.instance_start(instance=fresh(instance), actor="test")
    failed.refresh_from_db()
    assert failed.status == OperationStatus.FAILED
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {}}
    retry = services.operation_retry(operation=failed, actor="test")
    retry.refresh_from_db()
    assert retry.status == OperationStatus.SUCCEEDED and retry.id != failed.id
    assert fresh(instance).status == Status.RUNNING
    with pytest.raises(ApplicationError):
        services.operation_retry(operation=retry, actor="test")


def test_docker_lost_during_an_operation_fails_it_after_retries(platform, settings):
    from tenantry.core.backends import reset_backends

    instance, _ = create("stranded")
    settings.RUNTIME_BACKENDS = {"default": {"BACKEND": "tenantry.runtime.backends.docker.DockerRuntime",
                                             "OPTIONS": {"base_url": "unix:///nonexistent/docker.sock"}}}
    reset_backends()
    operation = services.instance_stop(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    assert operation.error_code == "runtime_unreachable"
    assert "unreachable" in operation.error_message and "gave up after 4 attempts" in operation.error_message
    step = operation.steps.get(name="stop_containers")
    assert step.attempts == 4 and step.log.count("retrying in") == 3
    assert fresh(instance).status == Status.FAILED
