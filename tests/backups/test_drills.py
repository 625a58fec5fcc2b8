"""Restore drills on real Docker (hello): the latest backup restored into a scratch instance on its
own network, health-checked and verified byte for byte, then removed; a damaged backup or a
restore that differs fails the drill, alerts the operators by email and shows in the metrics."""

from __future__ import annotations

import pytest

from tenantry.backups import services
from tenantry.backups.drills import drill_start, due_for_drill
from tenantry.backups.models import Backup, DrillStatus, RestoreDrill
from tenantry.instances.models import Instance, OperationStatus, Status
from tests.backups.helpers import mail_about, owner_of_operators, sh
from tests.conftest import installation_resources
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _backed_up(slug: str):
    instance, _ = create(slug)
    sh(instance, f"echo data-of-{slug} > /data/note.txt && mkdir -p /data/sub && seq 1 3000 > /data/sub/numbers")
    backup, operation = services.backup_create(instance=instance, actor="test")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error_message
    backup.refresh_from_db()
    assert set(backup.manifest["verify"]) == {"files"}  # recorded when the backup was made
    return instance, backup


def _scratch(drill: RestoreDrill) -> Instance:
    return Instance.objects.get(created_by=f"drill:{drill.pk}")


def test_a_drill_of_a_good_backup_passes_and_leaves_nothing_behind(platform, docker_client):
    instance, backup = _backed_up("drilled")
    drill = drill_start(team=instance.team, instance=instance, actor="test")
    drill.refresh_from_db()
    assert drill.status == DrillStatus.PASSED, (drill.error_message, drill.checks)
    assert drill.backup_id == backup.pk and drill.completed_at is not None
    assert [(c["name"], c["ok"]) for c in drill.checks] == [
        ("restore", True), ("health", True), ("files", True), ("cleanup", True)]
    scratch = _scratch(drill)
    assert scratch.status == Status.DELETED and scratch.team.slug == "operators"
    assert scratch.subnet != instance.subnet  # its own network
    assert installation_resources(docker_client, str(scratch.pk)) == []
    assert not Backup.objects.filter(instance=scratch).exists()  # a scratch copy is never backed up
    assert due_for_drill(drill.created_at) == [] or instance not in due_for_drill(drill.created_at)


def test_a_drill_of_a_tampered_backup_fails_and_alerts_the_operators(platform, settings, mailbox, docker_client):
    owner_of_operators("ops@operators.test")
    instance, backup = _backed_up("tampered")
    stored = settings.DATA_DIR / "backups" / backup.manifest["volumes"][0]["key"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    stored.write_bytes(bytes(data))

    drill = drill_start(team=instance.team, instance=instance, actor="test")
    drill.refresh_from_db()
    assert drill.status == DrillStatus.FAILED
    assert drill.checks[0]["name"] == "restore" and not drill.checks[0]["ok"]
    assert "damaged" in drill.checks[0]["detail"] or "differs" in drill.checks[0]["detail"]
    assert drill.checks[-1] == {"name": "cleanup", "ok": True, "detail": "scratch instance removed"}
    assert installation_resources(docker_client, str(_scratch(drill).pk)) == []
    mail = mail_about(mailbox, "ops@operators.test", "restore test")
    assert "tampered" in mail["Subject"]

    from tenantry.ops.metrics import TenantryCollector

    families = {f.name: f for f in TenantryCollector().collect()}
    failed = {tuple(s.labels.values()): s.value for s in families["tenantry_restore_drills"].samples
              if s.name == "tenantry_restore_drills_total"}
    assert failed[("failed",)] == 1


def test_a_restore_whose_data_differs_from_what_the_backup_recorded_fails_the_drill(platform):
    instance, backup = _backed_up("drifted")
    Backup.objects.filter(pk=backup.pk).update(manifest={**backup.manifest, "verify": {"files": "0" * 64}})
    drill = drill_start(team=instance.team, instance=instance, actor="test")
    drill.refresh_from_db()
    assert drill.status == DrillStatus.FAILED and drill.error_code == "drill_check_failed"
    assert {"name": "files", "ok": False, "detail": "differs from what the backup recorded"} in drill.checks


def test_the_dashboard_shows_the_last_verified_restore_and_tests_one_on_demand(platform):
    from tenantry.accounts.models import Team
    from tenantry.accounts.services.teams import operator_team
    from tests.dashboard.helpers import make_user, signed_in

    team = operator_team()
    owner = signed_in(make_user("owner@example.test", team=team))
    _backed_up("shown")
    base = f"/t/{team.slug}/instances/shown/backups"
    panel = owner.get(f"{base}/").content.decode()
    assert 'data-drill="none"' in panel and "Last verified restore:" in panel and "never" in panel

    other = Team.objects.create(name="Elsewhere", slug="elsewhere")
    stranger = signed_in(make_user("stranger@example.test", team=other))
    assert stranger.post("/t/elsewhere/instances/shown/backups/drill/").status_code == 404
    assert not RestoreDrill.objects.exists()

    assert owner.post(f"{base}/drill/").status_code == 302
    drill = RestoreDrill.objects.get()
    assert drill.status == DrillStatus.PASSED, drill.error_message
    panel = owner.get(f"{base}/").content.decode()
    assert 'data-drill="passed"' in panel and "never" not in panel


def test_drills_through_the_api_are_scoped_to_the_team(platform):
    from tenantry.accounts.models import Team
    from tenantry.accounts.services.teams import operator_team
    from tests.backups.test_backups_api import _client

    instance, _ = create("apidrill")
    client = _client(operator_team())
    refused = client.post("/api/v1/instances/apidrill/backups/drills")
    assert refused.status_code == 409 and refused.json()["code"] == "no_backup_to_drill"
    services.backup_create(instance=instance, actor="test")

    stranger = _client(Team.objects.create(name="Elsewhere", slug="elsewhere"))
    assert stranger.post("/api/v1/instances/apidrill/backups/drills").status_code == 404
    assert stranger.get("/api/v1/instances/apidrill/backups/drills").status_code == 404

    started = client.post("/api/v1/instances/apidrill/backups/drills")
    assert started.status_code == 202, started.content
    [listed] = client.get("/api/v1/instances/apidrill/backups/drills").json()["items"]
    assert listed["id"] == started.json()["id"] and listed["status"] == "passed"
    assert [c["name"] for c in listed["checks"]] == ["restore", "health", "files", "cleanup"]
