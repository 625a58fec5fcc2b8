"""Backups end to end on real Docker and Traefik with the hello app: back up, restore to a new
instance, restore in place with a rollback, a damaged archive refused, the target down."""

from __future__ import annotations

import pytest

from tenantry.backups import selectors, services
from tenantry.backups.models import Backup, BackupKind, BackupStatus
from tenantry.core.errors import ApplicationError
from tenantry.core.models import AuditEvent
from tenantry.events.models import Event
from tenantry.instances import services as instance_services
from tenantry.instances.models import OperationKind, OperationStatus, Status, StepStatus
from tests.backups.helpers import data_digest, mail_about, owner_of_operators, sh
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _backup(instance) -> Backup:
    backup, operation = services.backup_create(instance=instance, actor="test")
    operation.refresh_from_db()
    backup.refresh_from_db()
    assert operation.kind == OperationKind.BACKUP
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    return backup


def test_back_up_delete_restore_to_new_instance_gives_the_same_bytes(platform, settings):
    instance, _ = create("source")
    sh(instance, "echo precious-42 > /data/note.txt && mkdir -p /data/sub/.hidden && "
                 "printf 'x%.0s' $(seq 1 5000) > /data/sub/.hidden/blob && chmod 640 /data/note.txt")
    before = data_digest(instance)

    backup = _backup(instance)

    assert backup.status == BackupStatus.SUCCEEDED and backup.kind == BackupKind.MANUAL
    assert Event.objects.filter(type="backup.succeeded", data__backup_id=str(backup.pk)).count() == 1
    assert backup.target == "local" and backup.size_bytes > 0
    [volume] = backup.manifest["volumes"]
    assert volume["name"] == "data" and len(volume["sha256"]) == 64 and volume["tar_size"] > 5000
    stored = settings.DATA_DIR / "backups" / volume["key"]
    assert stored.stat().st_size == volume["size"]
    assert b"precious-42" not in stored.read_bytes()  # encrypted at rest
    # The app's declared dump ran before the volume was read (and travelled with it).
    assert "boots" in backup.operation.steps.get(name="run_backup_dumps").log

    instance_services.instance_delete(instance=instance, actor="test")
    assert fresh(instance).status == Status.DELETED

    clone, operation = services.backup_clone(team=instance.team, backup=backup, slug="copy", actor="test")
    operation.refresh_from_db()
    assert operation.kind == OperationKind.CLONE
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    clone = fresh(clone)
    assert clone.status == Status.RUNNING and clone.provisioned_at is not None
    # Same files, modes, owners and bytes (the boot log aside: the clone's first boot grew it).
    after = data_digest(clone).splitlines()
    assert any(line.startswith("./.boots-at-backup ") for line in after)  # the app's dump came along
    assert [line for line in after if not line.startswith("./.boots-at-backup ")] == before.splitlines()
    assert "./sub/.hidden/blob" in before and "./note.txt 640 0" in before
    assert sh(clone, "stat -c '%a' /data/note.txt").strip() == "640"
    assert platform.wait_for_body(clone.host, "Hello from copy")
    assert platform.get(clone.host, "/data/note.txt").text.strip() == "precious-42"
    # The clone has the credentials its data was made with.
    from tenantry.instances.secrets import instance_secret_values

    assert instance_secret_values(clone)["greeting_token"] == instance_secret_values(instance)["greeting_token"]


def test_restore_in_place_with_failing_health_check_puts_the_safety_backup_back(platform, settings, mailbox):
    owner = owner_of_operators()
    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 4}
    instance, _ = create("steady")
    # A backup of data the app cannot start with: hello needs /data/created_at to be a file.
    sh(instance, "echo broken-era > /data/note.txt && rm /data/created_at && mkdir /data/created_at")
    broken = _backup(instance)
    sh(instance, "rmdir /data/created_at && echo 2020-01-01T00:00:00Z > /data/created_at && "
                 "echo good-era > /data/note.txt")
    good = data_digest(instance)

    operation = services.backup_restore(instance=instance, backup=broken, actor="test")
    operation.refresh_from_db()

    assert operation.kind == OperationKind.RESTORE
    assert operation.status == OperationStatus.FAILED
    steps = {s.name: s for s in operation.steps.all()}
    assert steps["verify_backup"].status == StepStatus.SUCCEEDED
    assert steps["safety_backup"].status == StepStatus.SUCCEEDED
    assert steps["restore_volumes"].status == StepStatus.SUCCEEDED
    assert steps["wait_healthy"].status == StepStatus.FAILED
    safety = Backup.objects.get(pk=operation.state["safety_backup_id"])
    assert safety.kind == BackupKind.SAFETY and safety.status == BackupStatus.SUCCEEDED
    # The previous data is back, the app answers, the instance is running.
    instance = fresh(instance)
    assert instance.status == Status.RUNNING
    assert platform.wait_for_body(instance.host, "Hello from steady")
    assert platform.get(instance.host, "/data/note.txt").text.strip() == "good-era"
    assert data_digest(instance) == good  # the safety backup was taken after the stop: no dump ran
    assert "safety backup" in steps["wait_healthy"].log
    message = mail_about(mailbox, owner.email, "the restore of steady failed")
    assert "The data it had before is back and the app answers." in mailbox.text(message)
    # The reason: the app's own words (crashed at start, or never answered), quoted as they are.
    assert "can't create /data/created_at: Is a directory" in mailbox.text(message) or (
        "not ready" in mailbox.text(message))


def test_restore_in_place_replaces_data_and_keeps_the_app_serving(platform):
    instance, _ = create("rewind")
    sh(instance, "echo version-1 > /data/note.txt")
    first = _backup(instance)
    sh(instance, "echo version-2 > /data/note.txt && echo extra > /data/new-file")

    operation = services.backup_restore(instance=instance, backup=first, actor="test")
    operation.refresh_from_db()

    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    assert fresh(instance).status == Status.RUNNING
    assert platform.wait_for_body(instance.host, "Hello from rewind")
    assert platform.get(instance.host, "/data/note.txt").text.strip() == "version-1"
    assert "new-file" not in sh(instance, "ls -A /data")  # replaced, not merged
    assert [b.kind for b in selectors.backup_list(team=instance.team, instance=instance)] == [
        BackupKind.SAFETY, BackupKind.MANUAL]


def test_flipped_byte_is_refused_before_anything_is_replaced(platform, settings, mailbox):
    owner = owner_of_operators()
    instance, _ = create("guarded")
    sh(instance, "echo original > /data/note.txt")
    backup = _backup(instance)
    sh(instance, "echo current > /data/note.txt")
    stored = settings.DATA_DIR / "backups" / backup.manifest["volumes"][0]["key"]
    content = bytearray(stored.read_bytes())
    content[len(content) // 2] ^= 0x01
    stored.write_bytes(bytes(content))

    operation = services.backup_restore(instance=instance, backup=backup, actor="test")
    operation.refresh_from_db()

    assert operation.status == OperationStatus.FAILED
    assert operation.error_code == "backup_corrupt"
    steps = {s.name: s.status for s in operation.steps.all()}
    assert steps["verify_backup"] == StepStatus.FAILED
    assert all(status == StepStatus.PENDING for name, status in steps.items() if name != "verify_backup")
    assert "safety_backup_id" not in operation.state
    instance = fresh(instance)
    assert instance.status == Status.RUNNING  # never stopped
    assert platform.get(instance.host, "/data/note.txt").text.strip() == "current"
    assert "damaged" in mailbox.text(mail_about(mailbox, owner.email, "the restore of guarded failed"))


def test_backup_to_s3_and_clone_from_it(platform, s3_target):
    instance, _ = create("clouded")
    sh(instance, "/bin/busybox dd if=/dev/urandom of=/data/random bs=1M count=12 2>/dev/null && "
                 "echo cloud > /data/note.txt")
    before = sh(instance, "/bin/busybox md5sum /data/random")

    backup = _backup(instance)

    assert backup.target == "s3"
    assert backup.manifest["volumes"][0]["size"] > 12 * 1024 * 1024  # random data does not compress
    clone, operation = services.backup_clone(team=instance.team, backup=backup, slug="clouded-copy", actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    clone = fresh(clone)
    assert sh(clone, "/bin/busybox md5sum /data/random").split()[0] == before.split()[0]
    assert platform.get(clone.host, "/data/note.txt").text.strip() == "cloud"


def test_s3_down_mid_upload_is_retried_then_fails_loudly(platform, s3_target, settings, mailbox):
    import threading

    import boto3

    owner = owner_of_operators()
    instance, _ = create("unlucky")
    sh(instance, "/bin/busybox dd if=/dev/urandom of=/data/random bs=1M count=24 2>/dev/null")
    client = boto3.client("s3", endpoint_url=s3_target.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    stopped = threading.Event()

    def stop_when_uploading():
        # As soon as a multipart upload is under way, the S3 server goes away.
        while not stopped.is_set():
            try:
                if client.list_multipart_uploads(Bucket="backups").get("Uploads"):
                    s3_target.stop()
                    stopped.set()
            except Exception:
                continue

    watcher = threading.Thread(target=stop_when_uploading, daemon=True)
    watcher.start()
    backup, operation = services.backup_create(instance=instance, actor="test")
    stopped.set()
    watcher.join(timeout=5)
    operation.refresh_from_db()
    backup.refresh_from_db()

    assert operation.status == OperationStatus.FAILED
    step = operation.steps.get(name="save_backup")
    assert step.status == StepStatus.FAILED and step.attempts == settings.TENANTRY["STEP_MAX_ATTEMPTS"]
    assert "retrying" in step.log and "gave up after" in operation.error_message
    assert backup.status == BackupStatus.FAILED and backup.error_code == "target_unavailable"
    assert backup.completed_at is None
    assert fresh(instance).status == Status.RUNNING  # a failed backup does not touch the app
    assert AuditEvent.objects.filter(action="backup.failed", target_id=str(backup.pk)).exists()
    assert Event.objects.filter(type="backup.failed", data__backup_id=str(backup.pk)).exists()
    message = mail_about(mailbox, owner.email, "the backup of unlucky failed")
    assert "unreachable" in mailbox.text(message)
    # Retrying it would run a backup without its Backup row: refused, with what to do instead.
    with pytest.raises(ApplicationError) as refused:
        instance_services.operation_retry(operation=operation, actor="test")
    assert refused.value.code == "not_retryable" and "take a new backup" in refused.value.message
    assert fresh(instance).operations.filter(kind=OperationKind.BACKUP).count() == 1


def test_a_failed_clone_retried_restores_from_the_same_backup(platform, queued, settings):
    from tenantry.instances.engine import run_operation

    instance, first = create("origin")
    assert run_operation(str(first.id)) == OperationStatus.SUCCEEDED
    sh(instance, "echo cloned-data > /data/note.txt")
    backup, taken = services.backup_create(instance=instance, actor="test")
    assert run_operation(str(taken.id)) == OperationStatus.SUCCEEDED
    backup.refresh_from_db()
    clone, failed = services.backup_clone(team=instance.team, backup=backup, slug="origin-copy", actor="test")
    # The image goes missing between the request and the worker's run: the clone fails.
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {"tenantry/hello:1": "tenantry/gone:1"}}
    assert run_operation(str(failed.id)) == OperationStatus.FAILED
    assert fresh(clone).status == Status.FAILED
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {}}

    retried = instance_services.operation_retry(operation=failed, actor="test")

    # Told again which backup to restore (on the old code it ran without one and failed to verify).
    assert retried.kind == OperationKind.CLONE and retried.state["source_backup_id"] == str(backup.pk)
    assert run_operation(str(retried.id)) == OperationStatus.SUCCEEDED, fresh(clone).operations.first()
    assert fresh(clone).status == Status.RUNNING
    assert platform.get(fresh(clone).host, "/data/note.txt").text.strip() == "cloned-data"
