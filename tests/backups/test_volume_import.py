"""Writing a volume back (the Docker runtime's import_volume): emptied first, owners kept as
numbers, and a tar the helper cannot extract is an error, never a silent half-restore.

Two transfers feed the helper's tar: a FIFO shared with a local engine (`pipe`) and the engine's
attach socket (`attach`, any engine). Both are run forced here (a forced pipe raises instead of
falling back, so these tests fail if the pipe stops working); `auto` is checked to pick the
pipe on this local engine, to fall back to the attach socket when the engine cannot see the
pipe's directory, and to use the attach socket for an engine reached over TCP."""

from __future__ import annotations

import io
import logging
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tenantry.runtime.backends.base import BackendError, Deployment
from tenantry.runtime.backends.docker import DockerRuntime

TRANSFERS = ["pipe", "attach"]


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, (content, uid) in files.items():
            info = tarfile.TarInfo(f"volume/{name}")
            info.size, info.uid, info.gid, info.uname, info.gname = len(content), uid, uid, "root", "root"
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def _runtime(**options) -> DockerRuntime:
    return DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"], firewall="off", **options)


def _deployment(volume: str) -> Deployment:
    return Deployment(instance_id="import-test", slug="import-test", network="none", subnet="", gateway="",
                      volumes=(volume,), containers=(), entrypoint_service="", entrypoint_port=0)


def _files(runtime: DockerRuntime, volume: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(b"".join(runtime.export_volume(_deployment(volume), volume)))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _transfers(caplog) -> list[str]:
    """The transfer of each import logged so far (the runtime says which one it used)."""
    return [record.msg["transfer"] for record in caplog.records
            if isinstance(record.msg, dict) and record.msg.get("event") == "volume.imported"]


@pytest.fixture()
def volume(docker_client):
    name = f"tenantry-test-import-{uuid.uuid4().hex[:8]}"
    docker_client.volumes.create(name, labels={"tenantry.installation": settings.TENANTRY["INSTALLATION_ID"]})
    yield name
    docker_client.volumes.get(name).remove(force=True)


@pytest.fixture()
def helpers_gone(docker_client, volume):
    """After the test: no helper container of the volume is left."""
    yield
    assert not docker_client.containers.list(all=True, filters={"name": f"{volume}-backup-helper"})


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_import_replaces_the_content_and_keeps_numeric_owners(volume, transfer, caplog, helpers_gone):
    caplog.set_level(logging.INFO, logger="tenantry.runtime.backends.docker_volumes")
    runtime = _runtime(volume_transfer=transfer)
    deployment = _deployment(volume)
    runtime.import_volume(deployment, volume, [_tar({"old.txt": (b"old", 0), ".old-hidden": (b"x", 0)})])
    big = bytes(range(256)) * 20_000
    archive = _tar({"data.bin": (big, 4321), "notes/.hidden": (b"kept", 1000)})
    runtime.import_volume(deployment, volume, [archive[i:i + 100_000] for i in range(0, len(archive), 100_000)])
    assert _transfers(caplog) == [transfer, transfer]

    with tarfile.open(fileobj=io.BytesIO(b"".join(runtime.export_volume(deployment, volume)))) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert sorted(members) == ["volume/data.bin", "volume/notes/.hidden"]  # the old files are gone
        assert members["volume/data.bin"].uid == 4321  # not "root", the helper's name for it
        assert members["volume/notes/.hidden"].uid == 1000
        extracted = tar.extractfile(members["volume/data.bin"])
        assert extracted is not None and extracted.read() == big
    assert not (runtime.pipe_dir / volume).exists()  # the FIFO's directory goes with the helper


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_a_tar_the_helper_cannot_extract_is_an_error(volume, transfer, helpers_gone):
    runtime = _runtime(volume_transfer=transfer)
    with pytest.raises(BackendError, match=f"writing volume {volume} failed"):
        runtime.import_volume(_deployment(volume), volume, [b"this is not a tar archive" * 100])


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_an_archive_failing_midway_raises_its_own_error(volume, transfer, helpers_gone):
    """The archive's producer fails after the helper started reading (a damaged frame): that
    error reaches the caller (which puts the safety backup back), not a helper's complaint."""
    runtime = _runtime(volume_transfer=transfer)
    archive = _tar({"data.bin": (b"x" * 3_000_000, 0)})

    def damaged() -> Iterator[bytes]:
        yield archive[:1_000_000]
        yield archive[1_000_000:2_000_000]
        raise BackendError("frame 2 fails authentication", code="backup_corrupt")

    with pytest.raises(BackendError, match="frame 2 fails authentication"):
        runtime.import_volume(_deployment(volume), volume, damaged())
    assert not (runtime.pipe_dir / volume).exists()


def test_auto_uses_the_pipe_with_a_local_engine(volume, caplog):
    caplog.set_level(logging.INFO, logger="tenantry.runtime.backends.docker_volumes")
    runtime = _runtime()
    assert runtime.volume_transfer == "auto"
    runtime.import_volume(_deployment(volume), volume, [_tar({"a.txt": (b"through the pipe", 0)})])
    assert _transfers(caplog) == ["pipe"]
    assert _files(runtime, volume) == {"volume/a.txt": b"through the pipe"}


@pytest.mark.parametrize("engine_sees", ["no such directory", "another directory"])
def test_auto_falls_back_to_the_attach_socket_when_the_engine_cannot_see_the_pipe(volume, tmp_path, caplog,
                                                                                 engine_sees, helpers_gone):
    """A control plane in a container, or a forwarded socket: the engine has no such directory
    (it refuses the bind mount), or another one without our FIFO (the helper says so before
    touching the volume). Either way the import completes through the attach socket, says so
    once, and later imports go straight there."""
    caplog.set_level(logging.INFO, logger="tenantry.runtime.backends.docker_volumes")
    elsewhere = tmp_path / "the-engine-s-own-directory"
    if engine_sees == "another directory":
        elsewhere.mkdir()
    runtime = _runtime(pipe_dir=str(tmp_path / "ours"), pipe_dir_on_engine=str(elsewhere))
    deployment = _deployment(volume)
    runtime.import_volume(deployment, volume, [_tar({"first.txt": (b"1", 0)})])
    runtime.import_volume(deployment, volume, [_tar({"second.txt": (b"2", 0)})])

    assert _transfers(caplog) == ["attach", "attach"]
    warnings = [r.msg for r in caplog.records
                if isinstance(r.msg, dict) and r.msg["event"] == "volume.pipe_unavailable"]
    assert len(warnings) == 1 and str(elsewhere) in warnings[0]["reason"]
    assert runtime.pipe_unavailable == warnings[0]["reason"]
    assert _files(runtime, volume) == {"volume/second.txt": b"2"}


def test_a_forced_pipe_the_engine_cannot_see_is_an_error_and_the_volume_is_untouched(volume, tmp_path,
                                                                                    helpers_gone):
    (tmp_path / "other").mkdir()
    runtime = _runtime(volume_transfer="attach")
    runtime.import_volume(_deployment(volume), volume, [_tar({"kept.txt": (b"kept", 0)})])
    forced = _runtime(volume_transfer="pipe", pipe_dir=str(tmp_path / "ours"),
                      pipe_dir_on_engine=str(tmp_path / "other"))
    with pytest.raises(BackendError, match="volume_transfer is pipe") as raised:
        forced.import_volume(_deployment(volume), volume, [_tar({"new.txt": (b"new", 0)})])
    assert raised.value.code == "bad_config"
    assert _files(runtime, volume) == {"volume/kept.txt": b"kept"}


def test_an_unknown_transfer_is_refused():
    with pytest.raises(BackendError, match="unknown volume_transfer 'ftp'"):
        _runtime(volume_transfer="ftp")


class _TcpToUnix:
    """The local engine reached over TCP, as a remote engine is (tcp://): a byte relay between
    127.0.0.1:<port> and the engine's unix socket, half-closes passed on (the attach socket ends
    the tar with one)."""

    def __init__(self, unix_path: str):
        self.unix_path = unix_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.unix_path)
            for source, sink in ((client, engine), (engine, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1024 * 1024):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_an_engine_over_tcp_is_written_through_the_attach_socket(volume, caplog, helpers_gone):
    caplog.set_level(logging.INFO, logger="tenantry.runtime.backends.docker_volumes")
    engine = Path("/var/run/docker.sock")
    relay = _TcpToUnix(str(engine))
    try:
        remote = _runtime(base_url=f"tcp://127.0.0.1:{relay.port}")
        big = bytes(range(256)) * 8_000
        remote.import_volume(_deployment(volume), volume, [_tar({"over-tcp.bin": (big, 0)})])
        assert _transfers(caplog) == ["attach"]
        assert _files(remote, volume) == {"volume/over-tcp.bin": big}
        remote.close()
    finally:
        relay.close()


def _helper_state(docker_client, volume: str) -> str | None:
    """The helper container's state ("created", "running"…), None while there is none."""
    # The engine's listing alone (the SDK's list inspects each one, which races a helper being removed).
    found = docker_client.api.containers(all=True, filters={"name": f"{volume}-backup-helper"})
    return found[0]["State"] if found else None


def _once_the_helper_is(docker_client, volume: str, states: tuple[str, ...], then: Iterator[bytes]) -> Iterator[bytes]:
    """An archive whose first chunk only comes once the helper is in one of `states` (a slow
    download); an error if the helper never gets there (it waited for that chunk)."""
    deadline = time.monotonic() + 30
    while _helper_state(docker_client, volume) not in states:
        if time.monotonic() > deadline:
            raise AssertionError(f"no helper {'/'.join(states)} while the first chunk was on its way")
        time.sleep(0.05)
    yield from then


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_the_helper_is_prepared_while_the_first_chunk_is_on_its_way(volume, transfer, docker_client, helpers_gone):
    """The helper's start is not paid after the download's: it is made (and, with the pipe,
    started) while the archive's producers fetch the first chunk. The attach socket's helper is
    only made: it empties the volume as soon as it runs."""
    runtime = _runtime(volume_transfer=transfer)
    states = ("running",) if transfer == "pipe" else ("created",)
    archive = _tar({"late.txt": (b"came after the helper", 0)})
    late = _once_the_helper_is(docker_client, volume, states, iter([archive]))
    runtime.import_volume(_deployment(volume), volume, late)
    assert _files(runtime, volume) == {"volume/late.txt": b"came after the helper"}


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_an_archive_failing_before_its_first_chunk_leaves_the_volume_untouched(volume, transfer, docker_client,
                                                                               helpers_gone):
    """A backup damaged from its start, while the helper is already there (started, with the
    pipe): the archive's error is raised, the helper removed, and nothing was deleted."""
    runtime = _runtime(volume_transfer=transfer)
    runtime.import_volume(_deployment(volume), volume, [_tar({"kept.txt": (b"kept", 0)})])
    states = ("running",) if transfer == "pipe" else ("created",)

    def damaged() -> Iterator[bytes]:
        raise BackendError("frame 0 fails authentication", code="backup_corrupt")
        yield b""  # a generator

    with pytest.raises(BackendError, match="frame 0 fails authentication"):
        runtime.import_volume(_deployment(volume), volume,
                              _once_the_helper_is(docker_client, volume, states, damaged()))
    assert _files(runtime, volume) == {"volume/kept.txt": b"kept"}
