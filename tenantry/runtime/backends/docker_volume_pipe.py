"""The fast way into a volume when the Docker engine runs on this machine: a named pipe (FIFO).

A restore's archive used to reach the helper's `tar` only through the engine's attach socket:
every byte copied by dockerd, then by containerd's shim, into the helper's stdin. Measured here
(bench/restore_stages.py) that path ran at well under half the speed of a plain `tar x` on the
host, and made the restore 1.6x the bare work. With a local engine the control plane and the
helper can share a directory instead: Tenantry makes a FIFO in it, the helper mounts it and
its `tar` reads the FIFO, so the bytes go through one kernel pipe, as in `… | tar x`.

Whether the engine sees our directory cannot be told from its address (a unix socket may be
forwarded from elsewhere, or the control plane may run in a container with the host's socket),
so it is proven on each use: the FIFO is bind-mounted by the path the engine should see it at;
the engine refuses a bind source it does not have, and the helper checks the FIFO is there before
it touches the volume (exit `PIPE_MISSING` otherwise). Either way nothing has been read from the
archive nor written to the volume yet, and the caller can use the attach socket instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import docker.errors
from docker.types import Mount

from tenantry.runtime.backends.base import BackendError

PIPE_MOUNT = "/transfer"
PIPE_NAME = "archive.tar"
PIPE_MISSING = 97  # the helper's exit status when the FIFO is not in its mount
# A bigger pipe than Linux's 64 KiB default: fewer wake-ups of the writer and of `tar`
# (1 MiB is what an unprivileged process may ask for, /proc/sys/fs/pipe-max-size).
PIPE_BUFFER_BYTES = 1024 * 1024
OPEN_TIMEOUT_SECONDS = 120
_POLL_SECONDS = 0.005
_STATUS_EVERY_SECONDS = 0.25


class PipeUnavailable(Exception):
    """The engine cannot see the pipe directory (remote engine, or not shared with it)."""


def helper_command(wipe: str) -> list[str]:
    """The helper's script: prove the FIFO is there, wait for the control plane to open it (the
    shell's open of the read end blocks until then), only then empty the volume and extract
    what comes through it. So the helper can be made and started before the archive's first
    chunk is in hand: until the control plane opens the FIFO, nothing touches the volume."""
    pipe = f"{PIPE_MOUNT}/{PIPE_NAME}"
    return ["/bin/sh", "-c", f"[ -p {pipe} ] || exit {PIPE_MISSING}; exec < {pipe}; {wipe}; "
                             f"exec tar x --numeric-owner -f - -C /"]


class VolumePipe:
    """A FIFO in `<local_dir>/<volume>/`, which the engine sees under `<engine_dir>/<volume>/`.
    The directory is fixed per volume (like the helper's name), so a run that died leaves
    nothing behind that the next one does not replace."""

    def __init__(self, *, local_dir: Path, engine_dir: Path, volume: str):
        self.directory = local_dir / volume
        self.engine_directory = engine_dir / volume

    def __enter__(self) -> VolumePipe:
        try:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True, mode=0o700)
            os.mkfifo(self.directory / PIPE_NAME, 0o600)
        except OSError as exc:
            raise PipeUnavailable(f"cannot make a FIFO in {self.directory}: {exc.strerror}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def mount(self) -> Mount:
        # Read-only: the helper only reads the FIFO (which a read-only mount allows).
        return Mount(PIPE_MOUNT, str(self.engine_directory), type="bind", read_only=True)

    def open_for_writing(self, helper: Any) -> int:
        """The FIFO's write end, once the helper opened the read end. Polled without
        blocking, so that a helper that exits first (FIFO missing, volume not writable) is seen:
        PipeUnavailable or BackendError then."""
        path = self.directory / PIPE_NAME
        deadline = time.monotonic() + OPEN_TIMEOUT_SECONDS
        next_status = time.monotonic() + _STATUS_EVERY_SECONDS
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise BackendError(f"cannot open the FIFO {path}: {exc.strerror}") from exc
            now = time.monotonic()
            if now >= next_status:
                next_status = now + _STATUS_EVERY_SECONDS
                helper.reload()
                if helper.status in ("exited", "dead"):
                    code = helper.attrs["State"].get("ExitCode")
                    if code == PIPE_MISSING:
                        raise PipeUnavailable(f"the engine does not see {self.engine_directory} as this "
                                              f"machine's {self.directory}")
                    return -1  # it failed before reading: the caller reports its output
            if now >= deadline:
                raise BackendError(f"the helper did not open the FIFO within {OPEN_TIMEOUT_SECONDS} s",
                                   code="timeout")
            time.sleep(_POLL_SECONDS)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with contextlib.suppress(OSError):  # a smaller pipe only costs speed
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BUFFER_BYTES)
        return fd


def write_all(fd: int, archive: Iterable[bytes]) -> bool:
    """Write the archive to the FIFO; True when the reader went away (its tar failed: its
    output says why). The archive's own errors propagate."""
    for chunk in archive:
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(fd, view)
            except BrokenPipeError:
                return True
            view = view[written:]
    return False


def is_missing_bind_source(exc: docker.errors.APIError) -> bool:
    """The engine's answer when it has no such directory to bind-mount (a remote engine)."""
    return exc.status_code == 400 and "bind source path does not exist" in str(exc.explanation or exc)
