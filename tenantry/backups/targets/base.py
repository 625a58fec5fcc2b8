"""Where backup archives are kept: the interface every target implements.

A target stores opaque, already encrypted objects under keys. `put` returns only once the
object is at the target with the expected size and checksum; anything else raises, so a
backup is never recorded as done when its upload failed. Targets raise only the runtime's
`BackendError` (permanent) / `TransientBackendError` (retry later), which the operation
engine already retries with backoff.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tenantry.runtime.backends.base import BackendError, TransientBackendError

__all__ = ["BackendError", "BackupTarget", "StoredObject", "TransientBackendError"]


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class BackupTarget(abc.ABC):
    # Off-site targets (another provider's object storage) are for plans that include them
    # (Plan.offsite_backups); the others get the installation's local target.
    offsite = False

    def __init__(self, *, alias: str = "default", **options: object):
        self.alias = alias

    @abc.abstractmethod
    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Store a stream under `key` (replacing it) and confirm it is there, whole."""

    @abc.abstractmethod
    def get(self, key: str) -> Iterator[bytes]:
        """Stream an object back (`BackendError` code `not_found` when it is not there)."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""

    @abc.abstractmethod
    def size(self, key: str) -> int | None:
        """The stored object's size, None when it is not there."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
