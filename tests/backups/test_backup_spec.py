"""The app spec's `backup:` section: what it may name is checked when the catalog loads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tenantry.catalog.registry import get_app
from tenantry.catalog.schema import AppSpec

BASE = {"name": "demo", "title": "Demo", "entrypoint": {"service": "web", "port": 80},
        "services": {"web": {"image": "x:1", "volumes": [{"name": "data", "mount": "/data"}]}}}


def test_a_spec_without_backup_section_backs_up_every_volume():
    spec = AppSpec.model_validate(BASE)
    assert spec.backup.volumes == [] and spec.backup.dumps == []


@pytest.mark.parametrize(("backup", "problem"), [
    ({"volumes": ["nope"]}, "backup.volumes: unknown volume 'nope'"),
    ({"dumps": [{"name": "db", "service": "ghost", "command": ["true"]}]}, "unknown service 'ghost'"),
    ({"dumps": [{"name": "db", "service": "web", "command": ["echo", "{{ secrets.missing }}"]}]},
     "backup.dumps.db.command.1"),
    ({"dumps": [{"name": "db", "service": "web", "command": []}]}, "command"),
    ({"surprise": True}, "surprise"),
])
def test_bad_backup_sections_are_refused_with_the_field(backup, problem):
    with pytest.raises(ValidationError) as refused:
        AppSpec.model_validate({**BASE, "backup": backup})
    assert problem in str(refused.value)


def test_shipped_hello_declares_its_dump():
    [dump] = get_app("hello").backup.dumps
    assert dump.service == "web" and dump.timeout_seconds == 600


@pytest.mark.parametrize(("dump", "problem"), [
    ({"restore_volumes": [{"volume": "ghost", "command": ["true"]}]}, "restore_volumes: unknown volume 'ghost'"),
    ({"restore": ["echo", "{{ secrets.missing }}"]}, "backup.dumps.db.restore.1"),
    ({"restore_volumes": [{"volume": "data", "command": []}]}, "command"),
])
def test_bad_dump_restores_are_refused_with_the_field(dump, problem):
    backup = {"dumps": [{"name": "db", "service": "web", "command": ["true"], **dump}]}
    with pytest.raises(ValidationError) as refused:
        AppSpec.model_validate({**BASE, "backup": backup})
    assert problem in str(refused.value)


def test_two_dumps_with_one_name_are_refused():
    dump = {"name": "db", "service": "web", "command": ["true"]}
    with pytest.raises(ValidationError, match="names must be unique"):
        AppSpec.model_validate({**BASE, "backup": {"dumps": [dump, dump]}})


@pytest.mark.parametrize(("app", "tool", "service", "reset_volume"), [
    ("n8n", "db.backup(", "main", None),
    ("n8n-postgres", "pg_dump", "db", "db"),
    ("wordpress", "mariadb-dump --single-transaction", "db", "db"),
    ("erpnext", "mariadb-dump --single-transaction", "db", "db"),
])
def test_shipped_database_apps_declare_a_consistent_dump_and_its_restore(app, tool, service, reset_volume):
    [dump] = get_app(app).backup.dumps
    assert dump.service == service and tool in " ".join(dump.command)
    assert dump.restore_volumes  # the raw copy is replaced (SQLite) or emptied (servers) first
    if reset_volume:
        assert dump.restore_volumes[0].volume == reset_volume and dump.restore
        assert ("pg_restore" if app == "n8n-postgres" else "mariadb ") in " ".join(dump.restore)
    else:
        assert "tenantry-dump.sqlite database.sqlite" in " ".join(dump.restore_volumes[0].command)
