"""A directory on the control plane's host (default `<data>/backups`). Mount another disk
there: a backup on the same disk as the data protects from mistakes, not from losing the disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tenantry.backups.targets.base import BackendError, BackupTarget, StoredObject, TransientBackendError

READ_BYTES = 1024 * 1024


class LocalTarget(BackupTarget):
    def __init__(self, *, alias: str = "local", directory: str = "", **options: object):
        super().__init__(alias=alias)
        if not directory:
            raise BackendError("the local backup target needs a directory", code="bad_config")
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        path = (self.directory / key).resolve()
        if not path.is_relative_to(self.directory.resolve()) or key.startswith("/"):
            raise BackendError(f"bad object key {key!r}", code="bad_key")
        return path

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        path = self._path(key)
        partial = path.with_name(path.name + ".part")
        written = hashlib.sha256()
        size = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    written.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)  # a half-written object never has the final name
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise TransientBackendError(f"writing {key} to {self.directory}: {exc.strerror or exc}",
                                        code="target_unavailable") from exc
        # Confirmed by reading it back, not by trusting what we wrote.
        confirmed = hashlib.sha256()
        stored_size = 0
        for chunk in self.get(key):
            confirmed.update(chunk)
            stored_size += len(chunk)
        if stored_size != size or confirmed.hexdigest() != written.hexdigest():
            raise TransientBackendError(f"{key} differs from what was written ({stored_size} of {size} bytes)",
                                        code="target_mismatch")
        return StoredObject(key=key, size=size, sha256=written.hexdigest())

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise BackendError(f"{key} is not in {self.directory}", code="not_found") from exc
        except OSError as exc:
            raise TransientBackendError(f"reading {key}: {exc.strerror or exc}", code="target_unavailable") from exc
        return _read(handle)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None


def _read(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_BYTES):
            yield chunk
