"""A backup as one download: a tar holding each volume's tar (`<volume>.tar`) and the manifest,
decrypted and decompressed on the fly from the target. Nothing is spooled: the member sizes are
in the manifest, so the tar headers (and the Content-Length) are known before the data. A
damaged object stops the stream (the client sees a short download, never wrong data)."""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterator

from tenantry.backups import archive
from tenantry.backups.models import Backup

BLOCK = tarfile.BLOCKSIZE


def _header(name: str, size: int, mtime: float) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _members(backup: Backup) -> tuple[bytes, list[tuple[bytes, dict]]]:
    mtime = backup.completed_at.timestamp() if backup.completed_at else time.time()
    manifest = json.dumps(backup.manifest, indent=2).encode()
    volumes = [(_header(f"{entry['name']}.tar", entry["tar_size"], mtime), entry)
               for entry in backup.manifest.get("volumes", [])]
    return _header("manifest.json", len(manifest), mtime) + manifest + _padding(len(manifest)), volumes


def download_size(backup: Backup) -> int:
    head, volumes = _members(backup)
    return len(head) + sum(len(h) + e["tar_size"] + len(_padding(e["tar_size"])) for h, e in volumes) + 2 * BLOCK


def download_stream(backup: Backup) -> Iterator[bytes]:
    head, volumes = _members(backup)
    yield head
    for header, entry in volumes:
        yield header
        yield from archive.read_object(backup, entry)
        yield _padding(entry["tar_size"])
    yield b"\0" * (2 * BLOCK)


def download_name(backup: Backup) -> str:
    stamp = backup.created_at.strftime("%Y%m%d-%H%M%S")
    return f"{backup.instance_slug}-{stamp}.tar"
