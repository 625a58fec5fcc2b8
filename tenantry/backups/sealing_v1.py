"""Format 1 of backup archives (read for the archives made before format 2; see sealing.py).

Compressed with gzip, then encrypted with the team's key in Fernet frames.

Fernet (AES-128-CBC + HMAC-SHA256) authenticates each frame, but a stream of frames could still
be cut short or reordered; so every frame's plaintext starts with its index and a "last frame"
flag, and a reader refuses a gap, a repeat, a missing last frame or bytes after it. On top of
that the manifest keeps the sha256 and size of the stored bytes and of the tar inside, checked
when a backup is verified or restored.

Layout: MAGIC, then frames of `u32 length (big endian) + Fernet token (raw, not base64)`; a token's plaintext is
`u64 index + u8 last + gzip bytes`. Everything is streamed: memory use is about one frame.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterable, Iterator

from cryptography.fernet import Fernet, InvalidToken

from tenantry.backups.sealing_common import ArchiveCorrupt, Digest

MAGIC = b"TENANTRY-BACKUP-1\n"
FRAME_BYTES = 1024 * 1024  # plaintext per frame before compression flushes a frame
_HEADER = struct.Struct(">QB")
_LENGTH = struct.Struct(">I")
_MAX_TOKEN = 4 * FRAME_BYTES  # a length beyond this is corruption, not a frame to allocate


def seal_v1(chunks: Iterable[bytes], key: bytes, *, plain: Digest, level: int = 1) -> Iterator[bytes]:
    """Compress and encrypt a stream; `plain` receives the size and sha256 of what went in.
    Level 1: backups are I/O bound, and tar of application data compresses well even so."""
    fernet = Fernet(key)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
    pending = bytearray()
    index = 0
    yield MAGIC

    def frame(payload: bytes, last: bool) -> bytes:
        # Stored as raw bytes, not Fernet's base64 text: a third less to write and send.
        token = base64.urlsafe_b64decode(fernet.encrypt(_HEADER.pack(index, 1 if last else 0) + payload))
        return _LENGTH.pack(len(token)) + token

    for chunk in chunks:
        if not chunk:
            continue
        plain.update(chunk)
        pending += compressor.compress(chunk)
        while len(pending) >= FRAME_BYTES:
            yield frame(bytes(pending[:FRAME_BYTES]), False)
            del pending[:FRAME_BYTES]
            index += 1
    pending += compressor.flush()
    while len(pending) > FRAME_BYTES:
        yield frame(bytes(pending[:FRAME_BYTES]), False)
        del pending[:FRAME_BYTES]
        index += 1
    yield frame(bytes(pending), True)


def unseal_v1(stored: Iterable[bytes], key: bytes, *, stored_digest: Digest | None = None,
           plain: Digest | None = None) -> Iterator[bytes]:
    """Decrypt and decompress a sealed stream, raising ArchiveCorrupt at the first sign of
    damage (a bad frame, a truncated or over-long stream, a wrong key)."""
    fernet = Fernet(key)
    decompressor = zlib.decompressobj(31)
    buffer = bytearray()
    expected_index = 0
    seen_magic = False
    finished = False
    for chunk in stored:
        if stored_digest is not None:
            stored_digest.update(chunk)
        buffer += chunk
        if not seen_magic:
            if len(buffer) < len(MAGIC):
                continue
            if bytes(buffer[:len(MAGIC)]) != MAGIC:
                raise ArchiveCorrupt("not a Tenantry backup archive (bad header)")
            del buffer[:len(MAGIC)]
            seen_magic = True
        while len(buffer) >= _LENGTH.size:
            if finished:
                raise ArchiveCorrupt("bytes after the last frame")
            (length,) = _LENGTH.unpack_from(buffer)
            if length > _MAX_TOKEN:
                raise ArchiveCorrupt("a frame has an impossible length")
            if len(buffer) < _LENGTH.size + length:
                break
            token = base64.urlsafe_b64encode(bytes(buffer[_LENGTH.size:_LENGTH.size + length]))
            del buffer[:_LENGTH.size + length]
            try:
                payload = fernet.decrypt(token)
            except InvalidToken as exc:
                raise ArchiveCorrupt(f"frame {expected_index} fails authentication (damaged, or another key)") from exc
            index, last = _HEADER.unpack_from(payload)
            if index != expected_index:
                raise ArchiveCorrupt(f"frame {index} found where frame {expected_index} belongs")
            expected_index += 1
            try:
                data = decompressor.decompress(payload[_HEADER.size:])
            except zlib.error as exc:
                raise ArchiveCorrupt(f"frame {index} does not decompress: {exc}") from exc
            if data:
                if plain is not None:
                    plain.update(data)
                yield data
            if last:
                finished = True
    if finished and buffer:
        raise ArchiveCorrupt("bytes after the last frame")
    if not seen_magic or not finished:
        raise ArchiveCorrupt("the archive is truncated (no last frame)")
    if not decompressor.eof:
        raise ArchiveCorrupt("the compressed stream is truncated")
