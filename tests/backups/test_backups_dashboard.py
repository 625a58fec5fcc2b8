"""The instance page's backups panel, with the same services as the API: back up now, list,
download, restore, restore to a new instance; roles and other teams are refused."""

from __future__ import annotations

import io
import tarfile

import pytest

from tenantry.accounts.models import Role, Team
from tenantry.accounts.services.teams import operator_team
from tenantry.backups.models import Backup, BackupStatus
from tenantry.instances.models import Instance, OperationKind
from tests.backups.helpers import sh
from tests.dashboard.helpers import make_user, signed_in
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def test_backups_panel_back_up_download_restore_and_clone(platform):
    team = operator_team()
    owner = signed_in(make_user("owner@example.test", team=team))
    instance, _ = create("paneled")
    sh(instance, "echo from-the-dashboard > /data/note.txt")
    base = f"/t/{team.slug}/instances/paneled"

    page = owner.get(f"{base}/")
    assert f'hx-get="{base}/backups/"' in page.content.decode()
    assert "No backups yet." in owner.get(f"{base}/backups/").content.decode()

    assert owner.post(f"{base}/backups/create/").status_code == 302
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.SUCCEEDED
    panel = owner.get(f"{base}/backups/").content.decode()
    assert f'data-backup="{backup.pk}"' in panel and "Restore to a new instance" in panel and "Download" in panel

    download = owner.get(f"/t/{team.slug}/backups/{backup.pk}/download/")
    content = b"".join(download.streaming_content)
    with tarfile.open(fileobj=io.BytesIO(content)) as outer, \
            tarfile.open(fileobj=outer.extractfile("data.tar")) as inner:
        assert inner.extractfile("volume/note.txt").read() == b"from-the-dashboard\n"

    sh(instance, "echo changed > /data/note.txt")
    assert owner.post(f"{base}/backups/{backup.pk}/restore/").status_code == 302
    restore = instance.operations.filter(kind=OperationKind.RESTORE).get()
    assert restore.status == "succeeded", restore.error_message
    assert platform.get(instance.host, "/data/note.txt").text == "from-the-dashboard\n"

    cloned = owner.post(f"/t/{team.slug}/backups/{backup.pk}/clone/", {"slug": "paneled-copy"})
    assert cloned.status_code == 302 and cloned["Location"].endswith("/instances/paneled-copy/")
    assert Instance.objects.get(slug="paneled-copy").operations.get().kind == OperationKind.CLONE


def test_members_cannot_restore_and_other_teams_see_nothing(platform):
    team = operator_team()
    instance, _ = create("guarded-panel")
    make_user("admin@example.test", team=team, role=Role.ADMIN)
    backup = Backup.objects.create(team=team, instance=instance, instance_slug=instance.slug, app="hello",
                                   target="local", prefix="x", status=BackupStatus.SUCCEEDED)
    member = signed_in(make_user("member@example.test", team=team, role=Role.MEMBER))
    panel = member.get(f"/t/{team.slug}/instances/guarded-panel/backups/").content.decode()
    assert "Back up now" in panel and "Restore" not in panel and "Download" not in panel
    assert member.post(f"/t/{team.slug}/instances/guarded-panel/backups/{backup.pk}/restore/").status_code == 404
    assert member.get(f"/t/{team.slug}/backups/{backup.pk}/download/").status_code == 404

    other = Team.objects.create(name="Elsewhere", slug="elsewhere")
    stranger = signed_in(make_user("stranger@example.test", team=other))
    assert stranger.get(f"/t/elsewhere/backups/{backup.pk}/download/").status_code == 404
    assert stranger.post(f"/t/elsewhere/backups/{backup.pk}/clone/", {"slug": "stolen"}).status_code == 404
    assert stranger.get("/t/elsewhere/instances/guarded-panel/backups/").status_code == 404
    assert not instance.operations.filter(kind=OperationKind.RESTORE).exists()
    assert not Instance.objects.filter(slug="stolen").exists()
