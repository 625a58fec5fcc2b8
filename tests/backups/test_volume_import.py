"""Writing a volume back (the Docker runtime's import_volume): emptied first, owners kept as
numbers, and a tar the helper cannot extract is an error, never a silent half-restore."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest
from django.conf import settings

from tenantry.runtime.backends.base import BackendError, Deployment
from tenantry.runtime.backends.docker import DockerRuntime


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, (content, uid) in files.items():
            info = tarfile.TarInfo(f"volume/{name}")
            info.size, info.uid, info.gid, info.uname, info.gname = len(content), uid, uid, "root", "root"
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


@pytest.fixture()
def volume(docker_client):
    name = f"tenantry-test-import-{uuid.uuid4().hex[:8]}"
    docker_client.volumes.create(name, labels={"tenantry.installation": settings.TENANTRY["INSTALLATION_ID"]})
    yield name
    docker_client.volumes.get(name).remove(force=True)


def test_import_replaces_the_content_and_keeps_numeric_owners(volume):
    runtime = DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"], firewall="off")
    deployment = Deployment(instance_id="import-test", slug="import-test", network="none", subnet="", gateway="",
                            volumes=(volume,), containers=(), entrypoint_service="", entrypoint_port=0)
    runtime.import_volume(deployment, volume, [_tar({"old.txt": (b"old", 0), ".old-hidden": (b"x", 0)})])
    big = bytes(range(256)) * 20_000
    archive = _tar({"data.bin": (big, 4321), "notes/.hidden": (b"kept", 1000)})
    runtime.import_volume(deployment, volume, [archive[i:i + 100_000] for i in range(0, len(archive), 100_000)])

    with tarfile.open(fileobj=io.BytesIO(b"".join(runtime.export_volume(deployment, volume)))) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert sorted(members) == ["volume/data.bin", "volume/notes/.hidden"]  # the old files are gone
        assert members["volume/data.bin"].uid == 4321  # not "root", the helper's name for it
        assert members["volume/notes/.hidden"].uid == 1000
        extracted = tar.extractfile(members["volume/data.bin"])
        assert extracted is not None and extracted.read() == big


def test_a_tar_the_helper_cannot_extract_is_an_error(volume):
    runtime = DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"], firewall="off")
    deployment = Deployment(instance_id="import-test", slug="import-test", network="none", subnet="", gateway="",
                            volumes=(volume,), containers=(), entrypoint_service="", entrypoint_port=0)
    with pytest.raises(BackendError, match=f"writing volume {volume} failed"):
        runtime.import_volume(deployment, volume, [b"this is not a tar archive" * 100])
