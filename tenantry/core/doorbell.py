"""Doorbells: a process that waits for something (idle queue workers, the edge holding requests
for a waking instance) binds a Unix datagram socket in a directory; the process that makes it
happen sends one byte to every socket there. Waiting stays a poll with a timeout: a ring only
ends the current wait early, so a lost ring (no socket could be bound, a full buffer) costs no
more than the poll did. Local to one host: with Redis or several hosts the poll remains.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from pathlib import Path

log = logging.getLogger("tenantry.doorbell")
_SOCKET_SUFFIX = ".sock"
MESSAGE_BYTES = 64
_READY = b"ready "


def ring(directory: Path, message: bytes = b"!") -> int:
    """Wake every process listening in `directory`; the number rung. Sockets left by a process
    that died are removed on the way. `message` (at most MESSAGE_BYTES) may say what happened."""
    try:
        names = [name for name in os.listdir(directory) if name.endswith(_SOCKET_SUFFIX)]
    except OSError:  # nobody has listened here yet
        return 0
    rung = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for name in names:
            path = directory / name
            try:
                sender.sendto(message, str(path))
                rung += 1
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # nobody listens there any more
            except BlockingIOError:
                rung += 1  # its buffer is full of rings it has not read yet: it is awake anyway
            except OSError as exc:
                log.debug("doorbell.ring_failed path=%s error=%s", path, exc)
    return rung


def listen(directory: Path) -> tuple[socket.socket, Path] | None:
    """A bound doorbell socket in `directory` and its path, or None when none can be bound (a
    path past the 107 bytes a socket address holds, a read-only disk): then the caller polls."""
    path = directory / f"{os.getpid()}-{secrets.token_hex(4)}{_SOCKET_SUFFIX}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        listener.bind(str(path))
    except OSError as exc:
        listener.close()
        log.warning("doorbell.unavailable directory=%s error=%s", directory, exc)
        return None
    return listener, path


def close(listener: socket.socket, path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
    listener.close()


def edge_doorbells() -> Path:
    """Rung when an instance's app may be handed requests (it answers): the edge stops waiting."""
    from django.conf import settings

    return Path(settings.DATA_DIR) / "edge.doorbells"


def ready_message(instance_id: str) -> bytes:
    """The edge's ring saying that this instance's app may be handed requests now."""
    return _READY + instance_id.encode()


def ready_instances(messages: list[bytes]) -> set[str]:
    return {m[len(_READY):].decode("ascii", "replace") for m in messages if m.startswith(_READY)}
