"""The control plane's own backup (`tenantry backup` / `tenantry restore`), on real Docker and
Traefik: back up, lose the database, the data directory and the proxy's routes, restore onto a
fresh data directory, reconcile → every instance adopted, running and reachable, nothing
duplicated; an instance created after the backup keeps its volume (marked, not removed). Runs on
SQLite and on PostgreSQL (the suite's PostgreSQL pass)."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from tenantry.backups.control_plane import DATA_FILES
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Status
from tenantry.instances.reconciler import reconcile
from tenantry.runtime.registry import runtime_for
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


@pytest.fixture()
def offsite(settings, tmp_path):
    """A backup target outside the data directory, the control-plane key, and a data directory of
    its own (the test replaces it) holding the files a control plane keeps there."""
    from tenantry.core.backends import reset_backends
    from tenantry.core.crypto import encrypt

    encrypt("warm-up")  # the installation's secrets keys exist (and are in use) before the copy
    old = tmp_path / "data-old"
    (old / "traefik").mkdir(parents=True)
    for name in DATA_FILES:
        real = Path(settings.DATA_DIR) / name
        (old / name).write_bytes(real.read_bytes() if real.is_file() else f"{name}-value".encode())
    settings.DATA_DIR = old
    settings.BACKUP_TARGETS = {**settings.BACKUP_TARGETS, "offsite": {
        "BACKEND": "tenantry.backups.targets.local.LocalTarget", "OPTIONS": {"directory": str(tmp_path / "offsite")}}}
    settings.TENANTRY = {**settings.TENANTRY, "BACKUP_TARGET": "offsite",
                         "CONTROL_BACKUP_KEY": Fernet.generate_key().decode()}
    reset_backends()
    yield tmp_path
    reset_backends()


def _wipe_database() -> None:
    """The machine is gone: an empty database in place of the old one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        connections.close_all()
    else:
        name = connection.settings_dict["NAME"]
        connections.close_all()
        Path(name).unlink()


def _containers(docker_client, instances) -> dict[str, str]:
    ids = {str(i.pk) for i in instances}
    return {c.name: c.id for c in docker_client.containers.list(all=True)
            if c.labels.get("tenantry.instance") in ids}


def test_back_up_wipe_restore_reconcile_adopts_every_running_instance(platform, offsite, settings, docker_client):
    instances = [create(slug)[0] for slug in ("alpha", "bravo")]
    assert all(fresh(i).status == Status.RUNNING for i in instances)
    before = _containers(docker_client, instances)
    assert len(before) == 2
    old_files = {name: (Path(settings.DATA_DIR) / name).read_bytes() for name in DATA_FILES}

    out = StringIO()
    call_command("backup", stdout=out)
    assert "Control plane backed up: control-plane/" in out.getvalue()
    stored = next((offsite / "offsite" / "control-plane").rglob("*.tnb"))
    assert b"alpha" not in stored.read_bytes() and old_files["edge_secret"] not in stored.read_bytes()
    late, _ = create("charlie")  # created after the backup: the restored database will not know it
    late_deployment = build_deployment(late)
    late_volumes = sorted(late_deployment.volumes)
    assert sorted(v.name for v in docker_client.volumes.list(
        filters={"label": f"tenantry.instance={late.pk}"})) == late_volumes != []

    # The disaster: database, data directory and the proxy's routes lost; the instances still run.
    from tenantry.routing.registry import routing

    routing().sync([])
    assert all(routing().wait_removed(str(i.pk)) for i in instances)
    _wipe_database()
    shutil.rmtree(settings.DATA_DIR)
    settings.DATA_DIR = offsite / "data-new"
    settings.DATA_DIR.mkdir()

    out = StringIO()
    call_command("restore", stdout=out)
    assert "Next: tenantry migrate && tenantry reconcile" in out.getvalue()
    call_command("migrate", verbosity=0)
    for name, content in old_files.items():
        assert (settings.DATA_DIR / name).read_bytes() == content
        assert (settings.DATA_DIR / name).stat().st_mode & 0o077 == 0

    report = reconcile()

    assert report.errors == [] and report.orphans_removed == [] and report.healed == []
    # charlie's data survives the first pass (the old reconciler removed it here): marked, kept
    # for the grace period, listed for the operator.
    assert sorted(report.orphans_marked) == sorted(
        [*(f"container:{c.name}" for c in late_deployment.containers), f"network:{late_deployment.network}",
         *(f"volume:{v}" for v in late_volumes)])
    assert sorted(v.name for v in docker_client.volumes.list(
        filters={"label": f"tenantry.instance={late.pk}"})) == late_volumes
    listing = StringIO()
    call_command("orphans", "list", stdout=listing)
    assert str(late.pk) in listing.getvalue() and late_volumes[0] in listing.getvalue()
    assert sorted(Instance.objects.values_list("slug", flat=True)) == ["alpha", "bravo"]
    assert _containers(docker_client, instances) == before  # adopted: nothing recreated, nothing duplicated
    for instance in instances:
        assert fresh(instance).status == Status.RUNNING
        # routed to the app again (not relayed by the edge, which the proxy's catch-all reaches)
        hello = f"Hello from {instance.slug}"
        assert platform.wait_until(instance.host, lambda r, hello=hello: hello in r.text
                                   and "X-Tenantry-State" not in r.headers)
    runtime = runtime_for(fresh(instances[0]).server)
    known = {str(i.pk) for i in instances}
    assert {r.instance_id for r in runtime.list_managed()} == known | {str(late.pk)}  # nothing else


@pytest.mark.django_db
def test_restore_refuses_a_control_plane_with_data_and_a_wrong_key(offsite, settings):
    from tenantry.accounts.services.teams import operator_team

    call_command("backup", stdout=StringIO())
    operator_team()
    with pytest.raises(CommandError) as refused:
        call_command("restore", stdout=StringIO())
    assert refused.value.returncode == 2 and "control_restore_refused" in str(refused.value)

    from tenantry.accounts.models import Team

    Team.objects.all().delete()
    settings.TENANTRY = {**settings.TENANTRY, "CONTROL_BACKUP_KEY": Fernet.generate_key().decode()}
    with pytest.raises(CommandError) as wrong_key:
        call_command("restore", stdout=StringIO())
    assert "control_backup_corrupt" in str(wrong_key.value)

    settings.TENANTRY = {**settings.TENANTRY, "CONTROL_BACKUP_KEY": ""}
    with pytest.raises(CommandError) as no_key:
        call_command("backup", stdout=StringIO())
    assert "control_backup_key_missing" in str(no_key.value) and "--new-key" in str(no_key.value)


@pytest.mark.django_db
def test_control_plane_backups_go_to_s3_and_only_the_newest_are_kept(offsite, s3_target, settings):
    import boto3

    settings.TENANTRY = {**settings.TENANTRY, "CONTROL_BACKUP_KEEP": 2}
    keys = []
    for _ in range(3):
        out = StringIO()
        call_command("backup", stdout=out)
        keys.append(out.getvalue().strip().splitlines()[-1].removeprefix("Control plane backed up: "))
    assert len(set(keys)) == 3
    s3 = boto3.client("s3", endpoint_url=s3_target.url, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="backups").get("Contents", [])}
    stored = {k for k in listed if k.endswith(".tnb")}
    assert {k.rsplit("/", 1)[1] for k in stored} == {k.rsplit("/", 1)[1] for k in keys[1:]}  # the oldest went
    latest = next(k for k in listed if k.endswith("/LATEST"))
    assert s3.get_object(Bucket="backups", Key=latest)["Body"].read().decode() == keys[-1]
