"""Volume backup and restore for the Docker runtime, through a short-lived helper container
that mounts the volume, so the control plane never needs the host's paths: the engine's archive
API streams a tar out of it (`get_archive`); a restore empties the volume and extracts the tar
with the helper's own `tar`, fed on its standard input through the engine's attach socket (about
1.5x as fast as the archive API's `put_archive` here, which was the slowest stage of a restore).
The helper image needs `/bin/sh`, `rm` and a `tar` that knows `--numeric-owner` (busybox, GNU).

The helper carries the instance's labels, so that a helper left by a worker that died is removed
with the instance (or by the reconciler once the instance is gone); its name is fixed per
volume, so a retried step replaces it rather than piling them up.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
from collections.abc import Generator, Iterable
from typing import Any

import docker.errors
import requests

from tenantry.runtime.backends.base import BackendError, Deployment, ExecResult
from tenantry.runtime.backends.docker_errors import missing_image_message, translate_errors
from tenantry.runtime.backends.docker_observe import LABEL_INSTALLATION, LABEL_INSTANCE

MOUNT_POINT = "/volume"
# Deletes everything in the mount point, dot-files included, but not the mount point itself.
_WIPE = f"rm -rf {MOUNT_POINT}/* {MOUNT_POINT}/.[!.]* {MOUNT_POINT}/..?*"
# The archive's members are under `volume/` (as `export_volume` reads them): extracted at the
# root, they land in the mount. Numeric owners: the helper's /etc/passwd is not the app's.
_EXTRACT = ["/bin/sh", "-c", f"{_WIPE}; exec tar x --numeric-owner -f - -C /"]


class DockerVolumeArchive:
    """Mixed into DockerRuntime (which gives `client`, `installation_id`)."""

    installation_id: str
    helper_image: str

    @property
    def client(self) -> docker.DockerClient:  # provided by DockerRuntime
        raise NotImplementedError

    def _helper(self, deployment: Deployment, volume: str, *, command: list[str] | None, stdin: bool = False) -> Any:
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
                    volumes={volume: {"bind": MOUNT_POINT, "mode": "rw"}}, network_disabled=True, user="0:0",
                    stdin_open=stdin)
            except docker.errors.ImageNotFound as exc:
                raise BackendError(missing_image_message(self.helper_image), code="image_missing") from exc

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
        # The first chunk before the helper: the archive's producers (download, unseal) start and
        # run ahead while the helper is made and started; a backup damaged from its start is
        # refused before the volume is emptied.
        chunks = iter(archive)
        first = next(chunks, b"")
        try:
            helper = self._helper(deployment, volume, command=_EXTRACT, stdin=True)
        except BaseException:
            getattr(chunks, "close", lambda: None)()  # stop the producers now, not when collected
            raise
        try:
            with translate_errors(f"write volume {volume}"):
                attached = self.client.api.attach_socket(helper.id, params={"stdin": 1, "stream": 1})
                stream: Any = getattr(attached, "_sock", attached)
                try:
                    helper.start()
                    refused = _send(stream, itertools.chain([first], chunks))  # the archive's errors propagate
                    if not refused:
                        stream.shutdown(socket.SHUT_WR)  # end of the tar: the helper finishes
                finally:
                    attached.close()
                outcome = helper.wait(timeout=600)
            if refused or outcome.get("StatusCode") != 0:
                output = helper.logs(stdout=True, stderr=True).decode(errors="replace").strip()
                raise BackendError(f"writing volume {volume} failed (exit {outcome.get('StatusCode')}): "
                                   f"{output[-300:] or 'the helper stopped reading'}")
        finally:
            self._remove(helper)

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
