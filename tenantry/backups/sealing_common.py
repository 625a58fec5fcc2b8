"""What every archive format shares: the corruption error and the running digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


class ArchiveCorrupt(Exception):
    """The stored bytes are not an intact archive sealed with this key."""


@dataclass
class Digest:
    """Running size and sha256 of a stream."""

    size: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()
