"""Updates on real Docker and Traefik: a broken version rolls back by itself with the data
kept, a good one sticks, rollouts by percentage pick the right count and stop on failures,
and maintenance windows hold updates back."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from tenantry.accounts.services.teams import operator_team
from tenantry.backups.models import Backup, BackupKind, BackupStatus
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status, StepStatus
from tenantry.updates import services
from tenantry.updates.models import Rollout, RolloutStatus, TargetStatus
from tests.backups.helpers import data_digest, sh
from tests.instances.helpers import create, fresh, last_operation
from tests.updates.conftest import BROKEN_IMAGE, GOOD_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _image_of(docker_client, instance: Instance) -> list[str]:
    [container] = build_deployment(instance).containers
    return docker_client.containers.get(container.name).image.tags


def _digest(instance: Instance) -> str:
    # The dump hello declares writes .boots-at-backup when the pre-update backup is taken.
    return "\n".join(line for line in data_digest(instance).splitlines() if not line.startswith("./.boots-at-backup"))


def test_an_update_to_a_broken_image_rolls_back_by_itself_and_keeps_the_data(platform, versioned, docker_client):
    instance, _ = create("canary", app="hellov")
    assert fresh(instance).app_version == "1"
    sh(instance, "echo precious-7 > /data/note.txt")
    before = _digest(instance)

    rollout = services.rollout_create(app="hellov", to_version="3", actor="test", instances=[instance])

    instance = fresh(instance)
    operation = last_operation(instance)
    assert operation.kind == OperationKind.UPDATE
    assert operation.status == OperationStatus.FAILED
    assert operation.state["switched"] and operation.state["rolled_back"]
    steps = {s.name: s for s in operation.steps.all()}
    assert steps["pre_update_backup"].status == StepStatus.SUCCEEDED
    assert steps["switch_version"].status == StepStatus.SUCCEEDED
    assert BROKEN_IMAGE in steps["switch_version"].log
    assert steps["wait_healthy"].status == StepStatus.FAILED
    assert "pre-update backup" in steps["wait_healthy"].log and "rolled back" in steps["wait_healthy"].log
    # Back on version 1, running, its page served through the proxy, its data as it was: the
    # broken version's "migration" was undone from the pre-update backup.
    assert instance.status == Status.RUNNING and instance.app_version == "1"
    assert _image_of(docker_client, instance) == ["tenantry/hello:1"]
    assert platform.wait_for_body(instance.host, "Hello from canary")
    assert platform.get(instance.host, "/data/note.txt").text.strip() == "precious-7"
    assert _digest(instance) == before
    assert "schema" not in sh(instance, "ls /data")
    backup = Backup.objects.get(operation=operation)
    assert backup.kind == BackupKind.PRE_UPDATE and backup.status == BackupStatus.SUCCEEDED
    assert backup.app_version == "1"
    rollout.refresh_from_db()
    [target] = rollout.targets.all()
    assert target.status == TargetStatus.ROLLED_BACK and target.message == operation.error_message != ""
    assert rollout.status == RolloutStatus.HALTED
    # Not replayed by "retry" (its state belongs to the rollout): a new rollout tries again.
    from tenantry.instances.services import NotRetryable, operation_retry

    with pytest.raises(NotRetryable):
        operation_retry(operation=operation, actor="test")


def test_a_rolled_back_update_puts_the_pre_update_dumps_back_too(platform, versioned):
    # dumphello's dump is a "consistent copy" that differs from the raw file: a rollback that
    # only wrote the volumes back would leave the raw note (what a restore must never do).
    instance, _ = create("canary-dump", app="hellovd")
    sh(instance, "echo raw-live-file > /data/note.txt")

    services.rollout_create(app="hellovd", to_version="3", actor="test", instances=[instance])

    instance = fresh(instance)
    operation = last_operation(instance)
    assert operation.kind == OperationKind.UPDATE and operation.state["rolled_back"], operation.error_message
    assert instance.status == Status.RUNNING and instance.app_version == "1"
    assert sh(instance, "cat /data/note.txt").strip() == "consistent-copy"
    assert "restored-in-service" in sh(instance, "ls /data")
    assert "schema" not in sh(instance, "ls /data")


def test_a_good_update_sticks_and_the_version_shown_changes(platform, versioned, docker_client):
    instance, _ = create("steady", app="hellov")
    sh(instance, "echo kept > /data/note.txt")
    assert "version-2" not in platform.wait_for_body(instance.host, "Hello from steady").text

    rollout = services.rollout_create(app="hellov", to_version="2", actor="test", instances=[instance])

    instance = fresh(instance)
    operation = last_operation(instance)
    assert operation.kind == OperationKind.UPDATE
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert instance.status == Status.RUNNING and instance.app_version == "2"
    assert _image_of(docker_client, instance) == [GOOD_IMAGE]
    assert platform.wait_for_body(instance.host, "message: <code>version-2</code>")
    assert platform.get(instance.host, "/data/note.txt").text.strip() == "kept"
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED
    assert rollout.targets.get().status == TargetStatus.SUCCEEDED
    # The version stays across a restart: containers are made from the instance's version.
    from tenantry.instances import services as instance_services

    instance_services.instance_restart(instance=instance, actor="test")
    assert fresh(instance).status == Status.RUNNING
    assert _image_of(docker_client, instance) == [GOOD_IMAGE]
    # Nothing to do twice.
    with pytest.raises(Exception) as refused:
        services.rollout_create(app="hellov", to_version="2", actor="test", instances=[fresh(instance)])
    assert getattr(refused.value, "code", "") == "already_on_version"


def test_rollout_by_percentage_picks_the_right_count_and_stops_beyond_the_failure_threshold(platform, versioned):
    instances = [create(f"fleet{n}", app="hellov")[0] for n in range(4)]

    half = services.rollout_create(app="hellov", to_version="2", actor="test", percent=50)

    half.refresh_from_db()
    assert half.scope == "percent" and half.targets.count() == 2
    assert half.status == RolloutStatus.COMPLETED
    versions = sorted(fresh(i).app_version for i in instances)
    assert versions == ["1", "1", "2", "2"]

    # Every instance not on 3 (all four), at most one failure tolerated: the second failure stops it.
    broken = services.rollout_create(app="hellov", to_version="3", actor="test", max_failures=1)

    broken.refresh_from_db()
    statuses = list(broken.targets.order_by("position").values_list("status", flat=True))
    assert broken.targets.count() == 4
    assert statuses == [TargetStatus.ROLLED_BACK, TargetStatus.ROLLED_BACK, TargetStatus.SKIPPED,
                        TargetStatus.SKIPPED]
    assert broken.status == RolloutStatus.HALTED and "2 update(s) failed" in broken.status_message
    # Each instance is back on (or still on) what it ran, and running.
    assert sorted(fresh(i).app_version for i in instances) == versions
    assert all(fresh(i).status == Status.RUNNING for i in instances)
    # Two updates of the first rollout, two of the second: the skipped ones never started.
    assert Operation.objects.filter(kind=OperationKind.UPDATE).count() == 4
    assert not broken.targets.filter(status=TargetStatus.SKIPPED, operation__isnull=False).exists()


def test_an_update_waits_for_the_teams_maintenance_window(platform, versioned):
    team = operator_team()
    instance, _ = create("owl", app="hellov", team=team)
    now = datetime.now(UTC)
    opens = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    services.maintenance_window_set(team=team, actor="test", start_time=time(opens.hour, 0), duration_minutes=60)

    rollout = services.rollout_create(app="hellov", to_version="2", actor="test", instances=[instance])

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING
    assert rollout.targets.get().status == TargetStatus.PENDING
    assert not fresh(instance).operations.filter(kind=OperationKind.UPDATE).exists()

    services.rollout_advance(rollout_id=str(rollout.pk), now=opens + timedelta(minutes=5))

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED
    assert fresh(instance).app_version == "2"
    assert Rollout.objects.count() == 1


def test_a_rollout_moves_on_by_itself_through_a_real_worker(platform, versioned, worker):
    from huey.contrib.djhuey import HUEY

    from tests.conftest import ran_in, wait_for

    HUEY.immediate = True  # provision in-process; the rollout and its updates go to the worker
    instances = [create(f"queued{n}", app="hellov")[0] for n in range(2)]
    HUEY.immediate = False

    rollout = services.rollout_create(app="hellov", to_version="2", actor="test")

    wait_for(lambda: Rollout.objects.get(pk=rollout.pk).status != RolloutStatus.RUNNING, timeout=180,
             what="the rollout to end")
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED, rollout.status_message
    for instance in instances:
        assert fresh(instance).app_version == "2"
        update = fresh(instance).operations.get(kind=OperationKind.UPDATE)
        assert update.status == OperationStatus.SUCCEEDED and ran_in(worker, update)
        assert platform.wait_for_body(instance.host, "version-2")
