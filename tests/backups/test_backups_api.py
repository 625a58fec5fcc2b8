"""The backups API: back up now, list with size and age, streamed download, restore, clone;
another team's instance or backup is a 404, exactly like one that does not exist."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from django.test import Client

from tenantry.accounts.models import Team
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.accounts.services.teams import operator_team
from tenantry.backups import selectors
from tenantry.backups.models import Backup
from tenantry.core.errors import NotFound
from tenantry.instances.models import Instance
from tests.backups.helpers import sh
from tests.instances.helpers import create

pytestmark = [pytest.mark.docker, pytest.mark.traefik]


def _client(team: Team, **kwargs) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k', **kwargs).plaintext}")


def test_back_up_list_download_and_clone_through_the_api(platform):
    instance, _ = create("apidata")
    sh(instance, "echo through-the-api > /data/note.txt")
    client = _client(operator_team())

    created = client.post("/api/v1/instances/apidata/backups")
    assert created.status_code == 202, created.content
    body = created.json()
    assert body["operation"]["kind"] == "backup"
    backup_id = body["backup"]["id"]

    listed = client.get("/api/v1/instances/apidata/backups").json()
    assert [b["id"] for b in listed["items"]] == [backup_id]
    [entry] = listed["items"]
    assert entry["status"] == "succeeded" and entry["size_bytes"] > 0 and entry["age_seconds"] >= 0
    assert entry["volumes"][0]["name"] == "data"

    download = client.get(f"/api/v1/backups/{backup_id}/download")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="apidata-')
    content = b"".join(download.streaming_content)
    assert int(download["Content-Length"]) == len(content)
    with tarfile.open(fileobj=io.BytesIO(content)) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())
        assert manifest["volumes"][0]["sha256"] == entry["volumes"][0]["sha256"]
        with tarfile.open(fileobj=outer.extractfile("data.tar")) as inner:
            assert inner.extractfile("volume/note.txt").read() == b"through-the-api\n"

    cloned = client.post(f"/api/v1/backups/{backup_id}/clone", {"slug": "apiclone"}, content_type="application/json")
    assert cloned.status_code == 202, cloned.content
    assert cloned.json()["operation"]["kind"] == "clone"
    assert cloned.json()["operation"]["status"] == "succeeded"
    assert platform.get(Instance.objects.get(slug="apiclone").host, "/data/note.txt").text == "through-the-api\n"

    taken = client.post(f"/api/v1/backups/{backup_id}/clone", {"slug": "apiclone"}, content_type="application/json")
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"

    restored = client.post(f"/api/v1/instances/apidata/backups/{backup_id}/restore")
    assert restored.status_code == 202 and restored.json()["kind"] == "restore"
    assert restored.json()["status"] == "succeeded"


def test_another_teams_backup_is_not_found_everywhere(platform):
    instance, _ = create("private")
    backup_client = _client(operator_team())
    backup_id = backup_client.post("/api/v1/instances/private/backups").json()["backup"]["id"]
    other = Team.objects.create(name="Other", slug="other-team")
    stranger = _client(other)

    for method, path in [("get", "/api/v1/instances/private/backups"), ("post", "/api/v1/instances/private/backups"),
                         ("get", f"/api/v1/backups/{backup_id}"), ("get", f"/api/v1/backups/{backup_id}/download"),
                         ("post", f"/api/v1/backups/{backup_id}/clone"),
                         ("post", f"/api/v1/instances/private/backups/{backup_id}/restore")]:
        kwargs = {"data": {"slug": "stolen"}, "content_type": "application/json"} if "clone" in path else {}
        answer = getattr(stranger, method)(path, **kwargs)
        assert answer.status_code == 404, (method, path, answer.content)
        assert answer.json()["code"] in ("instance_not_found", "backup_not_found")
    assert Backup.objects.count() == 1 and not Instance.objects.filter(slug="stolen").exists()
    # The selectors underneath: team B sees nothing of team A's.
    assert not selectors.backup_list(team=other).exists()
    with pytest.raises(NotFound):
        selectors.backup_get(team=other, backup_id=backup_id)
    assert selectors.backup_get(team=instance.team, backup_id=backup_id).pk is not None


def test_bad_input_is_refused_without_side_effects(platform):
    create("picky")
    client = _client(operator_team())
    assert client.get("/api/v1/backups/not-a-uuid").json()["code"] == "backup_not_found"
    backup_id = client.post("/api/v1/instances/picky/backups").json()["backup"]["id"]
    Backup.objects.filter(pk=backup_id).update(status="failed")
    refused = client.post(f"/api/v1/instances/picky/backups/{backup_id}/restore")
    assert refused.status_code == 409 and refused.json()["code"] == "backup_not_restorable"
    assert client.get(f"/api/v1/backups/{backup_id}/download").status_code == 409
    bad_slug = client.post(f"/api/v1/backups/{backup_id}/clone", {"slug": "x" * 100}, content_type="application/json")
    assert bad_slug.status_code == 422
    read_only = _client(operator_team(), scope="read")
    assert read_only.post("/api/v1/instances/picky/backups").status_code == 403
    assert Backup.objects.count() == 1
