"""`tenantry backups …` with the work done by a real worker process (the backup steps must be
registered there too), and its errors."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.backups.models import Backup, BackupStatus
from tenantry.instances.models import Instance, OperationKind
from tests.backups.helpers import sh
from tests.conftest import ran_in
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_cli_backs_up_lists_downloads_and_clones_through_a_worker(platform, worker, tmp_path):
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True  # provision in-process; the backup and the clone go to the worker
    instance, _ = create("shelly")
    sh(instance, "echo from-the-shell > /data/note.txt")
    HUEY.immediate = False

    output = _run("backups", "create", "shelly", "--wait", "--timeout", "120")
    assert "Save the volumes, compressed and encrypted, to the backup target … ok" in output
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.SUCCEEDED
    assert ran_in(worker, backup.operation)

    listing = _run("backups", "list", "shelly")
    assert str(backup.pk) in listing and "succeeded" in listing and "MB" in listing and "ago" in listing

    target = tmp_path / "shelly.tar"
    assert "Saved" in _run("backups", "download", str(backup.pk), "-o", str(target))
    with tarfile.open(target) as outer, tarfile.open(fileobj=outer.extractfile("data.tar")) as inner:
        assert inner.extractfile("volume/note.txt").read() == b"from-the-shell\n"

    output = _run("backups", "clone", str(backup.pk), "shelly-two", "--wait", "--timeout", "120")
    assert "Replace the volumes' data with the backup's … ok" in output
    assert "shelly-two is running" in output
    clone = Instance.objects.get(slug="shelly-two")
    assert clone.operations.get().kind == OperationKind.CLONE and ran_in(worker, clone.operations.get())
    assert platform.get(clone.host, "/data/note.txt").text == "from-the-shell\n"


def test_cli_errors_are_messages_with_exit_codes(platform):
    with pytest.raises(CommandError) as unknown:
        _run("backups", "show", "00000000-0000-0000-0000-000000000000")
    assert unknown.value.returncode == 2 and "backup_not_found" in str(unknown.value)
    with pytest.raises(CommandError) as no_instance:
        _run("backups", "create", "nobody-here")
    assert no_instance.value.returncode == 2 and "instance_not_found" in str(no_instance.value)
    assert not Backup.objects.exists()
