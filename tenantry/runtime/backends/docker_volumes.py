"""Volume backup and restore for the Docker runtime, through a short-lived helper container
that mounts the volume, so the control plane never needs the host's paths: the engine's archive
API streams a tar out of it (`get_archive`); a restore empties the volume and extracts the tar
with the helper's own `tar`, fed one of two ways (`volume_transfer`):

- `pipe`: a FIFO in a directory the control plane shares with a local engine, bind-mounted into
  the helper (docker_volume_pipe): the bytes go through one kernel pipe;
- `attach`: the helper's standard input, through the engine's attach socket; works with any
  engine (remote over tcp+TLS or ssh), but every byte is copied by the engine (measured here:
  the slowest stage of a restore, see docs/backups.md).

`auto` (the default) uses the pipe when the engine is reached through a unix socket and falls
back to the attach socket when the engine turns out not to see the pipe's directory (said once
in the log, with how to enable it). The helper image needs `/bin/sh`, `rm` and a `tar` that
knows `--numeric-owner` (busybox, GNU).

The helper carries the instance's labels, so that a helper left by a worker that died is removed
with the instance (or by the reconciler once the instance is gone); its name is fixed per
volume, so a retried step replaces it rather than piling them up.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker.errors
import requests
from docker.types import Mount

from tenantry.core.logging import get_logger
from tenantry.runtime.backends.base import BackendError, Deployment, ExecResult
from tenantry.runtime.backends.docker_errors import missing_image_message, translate_errors
from tenantry.runtime.backends.docker_observe import LABEL_INSTALLATION, LABEL_INSTANCE
from tenantry.runtime.backends.docker_volume_pipe import (
    PipeUnavailable,
    VolumePipe,
    helper_command,
    is_missing_bind_source,
    write_all,
)

MOUNT_POINT = "/volume"
# Deletes everything in the mount point, dot-files included, but not the mount point itself.
_WIPE = f"rm -rf {MOUNT_POINT}/* {MOUNT_POINT}/.[!.]* {MOUNT_POINT}/..?*"
# The archive's members are under `volume/` (as `export_volume` reads them): extracted at the
# root, they land in the mount. Numeric owners: the helper's /etc/passwd is not the app's.
_EXTRACT = ["/bin/sh", "-c", f"{_WIPE}; exec tar x --numeric-owner -f - -C /"]
_EXTRACT_FROM_PIPE = helper_command(_WIPE)
VOLUME_TRANSFERS = ("auto", "pipe", "attach")
log = get_logger(__name__)


class DockerVolumeArchive:
    """Mixed into DockerRuntime (which gives `client`, `installation_id`, `base_url`)."""

    installation_id: str
    helper_image: str
    base_url: str

    @property
    def client(self) -> docker.DockerClient:  # provided by DockerRuntime
        raise NotImplementedError

    def _configure_volume_transfer(self, transfer: str, pipe_dir: str | None, pipe_dir_on_engine: str | None) -> None:
        if transfer not in VOLUME_TRANSFERS:
            raise BackendError(f"unknown volume_transfer {transfer!r} ({', '.join(VOLUME_TRANSFERS)})",
                               code="bad_config")
        if pipe_dir is None:
            from django.conf import settings

            pipe_dir = str(settings.DATA_DIR / "volume-pipes")
        self.volume_transfer = transfer
        self.pipe_dir = Path(pipe_dir).absolute()
        self.pipe_dir_on_engine = Path(pipe_dir_on_engine).absolute() if pipe_dir_on_engine else self.pipe_dir
        # Why `auto` stopped trying the pipe (once proven unavailable, for the process's life).
        self.pipe_unavailable: str | None = None

    def _helper(self, deployment: Deployment, volume: str, *, command: list[str] | None, stdin: bool = False,
                mounts: list[Mount] | None = None) -> Any:
        if volume not in deployment.volumes:
            raise BackendError(f"{volume!r} is not a volume of instance {deployment.slug}", code="not_found")
        name = f"{volume}-backup-helper"
        with translate_errors(f"prepare a helper container for {volume}"):
            with contextlib.suppress(docker.errors.NotFound):  # left by an interrupted run
                self.client.containers.get(name).remove(force=True)
            try:
                self.client.volumes.get(volume)
            except docker.errors.NotFound as exc:
                raise BackendError(f"volume {volume} does not exist", code="not_found") from exc
            try:
                return self.client.containers.create(
                    self.helper_image, command=command or ["true"], entrypoint=[], name=name,
                    labels={LABEL_INSTALLATION: self.installation_id, LABEL_INSTANCE: deployment.instance_id,
                            "tenantry.helper": "volume-archive"},
                    volumes={volume: {"bind": MOUNT_POINT, "mode": "rw"}}, mounts=mounts or [],
                    network_disabled=True, user="0:0", stdin_open=stdin)
            except docker.errors.ImageNotFound as exc:
                raise BackendError(missing_image_message(self.helper_image), code="image_missing") from exc
            except docker.errors.APIError as exc:
                if mounts and is_missing_bind_source(exc):
                    raise PipeUnavailable(f"the engine has no directory {mounts[0]['Source']}") from exc
                raise

    @staticmethod
    def _remove(helper: Any) -> None:
        # Labelled with the instance: if this fails, it goes with the instance or the reconciler.
        with contextlib.suppress(docker.errors.APIError):
            helper.remove(force=True)

    def export_volume(self, deployment: Deployment, volume: str) -> Generator[bytes, None, None]:
        helper = self._helper(deployment, volume, command=None)
        response = None
        try:
            with translate_errors(f"read volume {volume}"):
                # The SDK's get_archive without its generator: a reader that stops early (the
                # target went down) must close the response, or the engine keeps the helper
                # locked while it waits to write the rest, and removing it hangs.
                api: Any = self.client.api
                response = api._get(api._url("/containers/{0}/archive", helper.id), params={"path": MOUNT_POINT},
                                    stream=True, headers={"Accept-Encoding": "identity"})
                api._raise_for_status(response)
                yield from response.iter_content(1024 * 1024, False)
        finally:
            if response is not None:
                response.close()
            self._remove(helper)

    def import_volume(self, deployment: Deployment, volume: str, archive: Iterable[bytes]) -> None:
        # The helper is made (and, with the pipe, started) while the archive's producers fetch
        # its first chunk (in a restore: the target's answer, the key, the first frames), so
        # the container's start is no longer paid after them. The volume is only emptied once
        # that first chunk is in hand: a backup damaged from its start is refused untouched.
        incoming = _Incoming(archive)
        started = time.monotonic()
        transfer = self._import_transfer()
        try:
            if transfer == "pipe":
                try:
                    self._import_through_pipe(deployment, volume, incoming)
                except PipeUnavailable as exc:
                    # Nothing read from the archive but its first chunk, nothing written: the
                    # attach socket can do the whole work, unless the operator asked for the pipe.
                    if self.volume_transfer == "pipe":
                        raise BackendError(f"volume_transfer is pipe, but {exc}; share {self.pipe_dir} with the "
                                           "engine or use auto", code="bad_config") from exc
                    self.pipe_unavailable = str(exc)
                    log.warning("volume.pipe_unavailable", reason=str(exc), pipe_dir=str(self.pipe_dir),
                                hint="volumes are written through the engine's attach socket (slower); give the "
                                     "engine the pipe directory at the same path, or set pipe_dir_on_engine")
                    transfer = "attach"
            if transfer == "attach":
                self._import_through_attach(deployment, volume, incoming)
        except BaseException:
            incoming.close()  # stop the producers now, not when collected
            raise
        seconds = time.monotonic() - started
        log.info("volume.imported", volume=volume, transfer=transfer, bytes=incoming.size, seconds=round(seconds, 3))

    def _import_transfer(self) -> str:
        if self.volume_transfer == "auto":
            local = self.base_url.startswith("unix://")
            return "pipe" if local and self.pipe_unavailable is None else "attach"
        return self.volume_transfer

    def _helper_while_first_chunk(self, incoming: _Incoming, prepare: Callable[[], Any]) -> Any:
        """`prepare()` (make a helper that leaves the volume alone until it is fed) in a thread
        while this one waits for the archive's first chunk; the helper. An archive failing at
        once raises its own error, after the helper is removed: the volume was not touched."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tenantry-helper") as pool:
            preparing = pool.submit(prepare)
            try:
                incoming.first()
            except BaseException:
                with contextlib.suppress(Exception):  # the archive's error is the one to report
                    self._remove(preparing.result())
                raise
            return preparing.result()

    def _import_through_pipe(self, deployment: Deployment, volume: str, incoming: _Incoming) -> None:
        with VolumePipe(local_dir=self.pipe_dir, engine_dir=self.pipe_dir_on_engine, volume=volume) as pipe:
            def prepare() -> Any:
                # Started: it blocks opening the FIFO, which this side opens after the first chunk.
                helper = self._helper(deployment, volume, command=_EXTRACT_FROM_PIPE, mounts=[pipe.mount()])
                try:
                    with translate_errors(f"write volume {volume}"):
                        helper.start()
                except BaseException:
                    self._remove(helper)
                    raise
                return helper

            helper = self._helper_while_first_chunk(incoming, prepare)
            try:
                with translate_errors(f"write volume {volume}"):
                    fd = pipe.open_for_writing(helper)
                    refused = fd < 0
                    if not refused:
                        try:
                            refused = write_all(fd, incoming)
                        finally:
                            os.close(fd)  # end of the tar: the helper finishes
                    self._finish_import(helper, volume, refused=refused)
            finally:
                self._remove(helper)

    def _import_through_attach(self, deployment: Deployment, volume: str, incoming: _Incoming) -> None:
        # Made (not started: it empties the volume as soon as it runs) while the first chunk comes.
        helper = self._helper_while_first_chunk(
            incoming, lambda: self._helper(deployment, volume, command=_EXTRACT, stdin=True))
        try:
            with translate_errors(f"write volume {volume}"):
                attached = self.client.api.attach_socket(helper.id, params={"stdin": 1, "stream": 1})
                stream: Any = getattr(attached, "_sock", attached)
                try:
                    helper.start()
                    refused = _send(stream, incoming)  # the archive's errors propagate
                    if not refused:
                        stream.shutdown(socket.SHUT_WR)  # end of the tar: the helper finishes
                finally:
                    attached.close()
                self._finish_import(helper, volume, refused=refused)
        finally:
            self._remove(helper)

    @staticmethod
    def _finish_import(helper: Any, volume: str, *, refused: bool) -> None:
        outcome = helper.wait(timeout=600)
        if refused or outcome.get("StatusCode") != 0:
            output = helper.logs(stdout=True, stderr=True).decode(errors="replace").strip()
            raise BackendError(f"writing volume {volume} failed (exit {outcome.get('StatusCode')}): "
                               f"{output[-300:] or 'the helper stopped reading'}")

    def run_in_volume(self, deployment: Deployment, volume: str, command: list[str], *,
                      timeout: float = 600) -> ExecResult:
        helper = self._helper(deployment, volume, command=command)
        try:
            with translate_errors(f"run a command on volume {volume}"):
                helper.start()
                try:
                    outcome = helper.wait(timeout=timeout)
                except requests.exceptions.ConnectionError as exc:  # the SDK's read timeout
                    raise BackendError(f"the command on volume {volume} did not finish within {timeout:g} s",
                                       code="timeout") from exc
                output = helper.logs(stdout=True, stderr=True).decode(errors="replace")
        finally:
            self._remove(helper)
        return ExecResult(exit_code=int(outcome.get("StatusCode", -1)), output=output)


def _send(stream: Any, archive: Iterable[bytes]) -> bool:
    """Write the archive to the helper's stdin; True when the helper stopped reading it (its tar
    failed: its output says why)."""
    for chunk in archive:
        if not chunk:
            continue
        try:
            stream.sendall(chunk)
        except OSError:
            return True
    return False


class _Incoming:
    """The archive being imported: its first chunk fetched once (`first()`, before the volume
    may be touched; kept for the attach socket when the pipe turns out unavailable), then each
    chunk in turn, counted for the log."""

    def __init__(self, archive: Iterable[bytes]):
        self.chunks = iter(archive)
        self.head: bytes | None = None
        self.size = 0

    def first(self) -> bytes:
        if self.head is None:
            self.head = next(self.chunks, b"")
        return self.head

    def __iter__(self) -> Iterator[bytes]:
        for chunk in itertools.chain([self.first()], self.chunks):
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        getattr(self.chunks, "close", lambda: None)()
