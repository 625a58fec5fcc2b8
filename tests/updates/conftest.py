from __future__ import annotations

import io
import os

import docker
import pytest
from django.conf import settings as django_settings

# Version 2 of the hello app (a good update: the page says so) and a broken version 3 whose
# first start "migrates" the data, then crashes: what an update must undo by itself.
GOOD_IMAGE = "tenantry/hello-update:2"
BROKEN_IMAGE = "tenantry/hello-update:broken"
_DOCKERFILES = {
    GOOD_IMAGE: 'FROM tenantry/hello:1\nENV HELLO_MESSAGE=version-2\nLABEL tenantry.test="hello-update-2"\n',
    BROKEN_IMAGE: 'FROM tenantry/hello:1\nLABEL tenantry.test="hello-update-broken"\n'
                  'CMD ["/bin/sh", "-c", "echo v3-schema > /data/schema; echo half-migrated > /data/created_at; '
                  'echo version 3 cannot start; exit 3"]\n',
}

VERSIONED_SPEC = f"""
name: hellov
extends: hello
title: Hello with versions
versions:
  "2":
    images: {{web: {GOOD_IMAGE}}}
    migrates_data: false
  "3":
    images: {{web: {BROKEN_IMAGE}}}
"""


@pytest.fixture(scope="session")
def update_images(docker_client: docker.DockerClient) -> dict[str, str]:
    """Built locally from tenantry/hello:1 (no registry), once per run."""
    for tag, dockerfile in _DOCKERFILES.items():
        docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False)
    return {"good": GOOD_IMAGE, "broken": BROKEN_IMAGE}


@pytest.fixture()
def versioned(settings, tmp_path, update_images, monkeypatch):
    """The app `hellov`: hello at version 1, with a good version 2 and a broken version 3 (also
    in the environment, for a worker process started after this fixture)."""
    from tenantry.catalog.registry import reload_catalog

    (tmp_path / "hellov.yaml").write_text(VERSIONED_SPEC)
    # The same versions on an app whose backups carry a dump that a restore applies.
    (tmp_path / "hellovd.yaml").write_text(VERSIONED_SPEC.replace("name: hellov\nextends: hello\n",
                                                                  "name: hellovd\nextends: dumphello\n"))
    dirs = [*django_settings.TENANTRY["CATALOG_DIRS"], str(tmp_path)]
    monkeypatch.setenv("TENANTRY_CATALOG_DIRS", os.pathsep.join(dirs))
    settings.TENANTRY = {**settings.TENANTRY, "HEALTH_TIMEOUT_SECONDS": 5, "CATALOG_DIRS": dirs}
    reload_catalog()
    yield update_images
    reload_catalog()
