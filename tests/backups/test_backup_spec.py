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
