"""Backup archives at rest: compressed, then encrypted with the team's key, in frames.

Format 2 (written since the backup benchmark): the stream is cut into frames of 1 MiB of
plaintext; each is compressed on its own with zstd (level 1, fast), or kept raw when that does
not make it smaller (random or already compressed data), then encrypted with AES-256-GCM. The
key is derived with HKDF-SHA256 from the team's key and a random salt written in the header,
so every archive has its own key and a frame's nonce can simply be its index. The index and the
frame's flags ("last", "compressed") are authenticated as associated data, so a reader refuses a
frame out of order, a repeat, a flipped flag, a missing last frame or bytes after it. On top of
that the manifest keeps the sha256 and size of the stored bytes and of the tar inside, checked
when a backup is verified or restored.

Layout: MAGIC + 16-byte salt, then frames of `u32 length (big endian) + u8 flags + AES-GCM
ciphertext and tag`. Frames are independent, so two are sealed (or opened) at a time in threads
(tenantry.backups.pipeline.ordered_map); everything is streamed: memory use is a few frames.

Format 1 (gzip + Fernet, tenantry.backups.sealing_v1) is still read: `unseal` tells them apart by
their MAGIC.
"""

from __future__ import annotations

import base64
import itertools
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from functools import partial

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantry.backups.pipeline import ordered_map
from tenantry.backups.sealing_common import ArchiveCorrupt, Digest
from tenantry.backups.sealing_v1 import MAGIC as MAGIC_V1
from tenantry.backups.sealing_v1 import unseal_v1

__all__ = ["FRAME_BYTES", "MAGIC", "ArchiveCorrupt", "Digest", "seal", "unseal"]

MAGIC = b"TENANTRY-BACKUP-2\n"
FRAME_BYTES = 1024 * 1024  # plaintext per frame
SALT_BYTES = 16
_TAG_BYTES = 16
_FRAME = struct.Struct(">IB")  # ciphertext length, flags
_AAD = struct.Struct(">QB")  # index, flags
_NONCE = struct.Struct(">4xQ")  # 96 bits: the index (the key is the archive's own)
LAST = 0x01
ZSTD = 0x02
_PROBE_BYTES = 64 * 1024  # a frame whose first 64 KiB do not shrink is not compressed
_INFO = b"tenantry backup archive v2: aes-256-gcm frames"
_local = threading.local()


def derive_key(key: bytes, salt: bytes) -> bytes:
    """The archive's AES-256 key, from the team's (a Fernet key: 32 url-safe base64 bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(base64.urlsafe_b64decode(key))


def seal(chunks: Iterable[bytes], key: bytes, *, plain: Digest, level: int = 1) -> Iterator[bytes]:
    """Compress and encrypt a stream; `plain` receives the size and sha256 of what went in."""
    salt = os.urandom(SALT_BYTES)
    aead = AESGCM(derive_key(key, salt))
    yield MAGIC + salt
    yield from ordered_map(partial(_seal_frame, aead, level), _blocks(chunks, plain))


def _blocks(chunks: Iterable[bytes], plain: Digest) -> Iterator[tuple[int, bool, bytes]]:
    """(index, last, plaintext) of each frame; at least one (the last, maybe empty)."""
    pending = bytearray()
    held: bytes | None = None  # a full block, given once we know whether another follows
    index = 0
    for chunk in chunks:
        if not chunk:
            continue
        plain.update(chunk)
        pending += chunk
        while len(pending) >= FRAME_BYTES:
            if held is not None:
                yield index, False, held
                index += 1
            held = bytes(pending[:FRAME_BYTES])
            del pending[:FRAME_BYTES]
    if held is not None and pending:
        yield index, False, held
        index += 1
        held = None
    yield index, True, held if held is not None else bytes(pending)


def _seal_frame(aead: AESGCM, level: int, block: tuple[int, bool, bytes]) -> bytes:
    index, last, data = block
    flags = LAST if last else 0
    compressor = getattr(_local, "compressor", None)
    if compressor is None or _local.level != level:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=level)
        _local.level = level
    packed = b""
    if len(data) > 2 * _PROBE_BYTES and len(compressor.compress(data[:_PROBE_BYTES])) > _PROBE_BYTES * 0.95:
        pass  # its start does not compress: random or already compressed data, kept raw at no cost
    elif data:
        packed = compressor.compress(data)
    if data and packed and len(packed) < len(data):
        flags |= ZSTD
        data = packed
    sealed = aead.encrypt(_NONCE.pack(index), data, _AAD.pack(index, flags))
    return _FRAME.pack(len(sealed), flags) + sealed


def unseal(stored: Iterable[bytes], key: bytes, *, stored_digest: Digest | None = None,
           plain: Digest | None = None) -> Iterator[bytes]:
    """Decrypt and decompress a sealed stream (either format), raising ArchiveCorrupt at the
    first sign of damage (a bad frame, a truncated or over-long stream, a wrong key)."""
    iterator = iter(stored)
    head = bytearray()
    for chunk in iterator:
        head += chunk
        if len(head) >= len(MAGIC) + SALT_BYTES:
            break
    stream = itertools.chain([bytes(head)], iterator)
    if head.startswith(MAGIC_V1):
        yield from unseal_v1(stream, key, stored_digest=stored_digest, plain=plain)
    elif head.startswith(MAGIC) and len(head) >= len(MAGIC) + SALT_BYTES:
        yield from _unseal_v2(stream, key, stored_digest=stored_digest, plain=plain)
    elif MAGIC.startswith(bytes(head[:len(MAGIC)])):
        raise ArchiveCorrupt("the archive is truncated (no last frame)")
    else:
        raise ArchiveCorrupt("not a Tenantry backup archive (bad header)")


def _unseal_v2(stream: Iterator[bytes], key: bytes, *, stored_digest: Digest | None,
               plain: Digest | None) -> Iterator[bytes]:
    frames = _frames(stream, stored_digest)
    salt = next(frames)
    assert isinstance(salt, bytes)
    aead = AESGCM(derive_key(key, salt))
    for data in ordered_map(partial(_open_frame, aead), frames):
        if data:
            if plain is not None:
                plain.update(data)
            yield data


def _frames(stream: Iterator[bytes], stored_digest: Digest | None) -> Iterator[bytes | tuple[int, int, bytes]]:
    """The archive's salt, then (index, flags, ciphertext) of each frame, checking the framing."""
    buffer = bytearray()
    index = 0
    finished = False
    seen_header = False
    for chunk in stream:
        if stored_digest is not None:
            stored_digest.update(chunk)
        buffer += chunk
        if not seen_header:
            if len(buffer) < len(MAGIC) + SALT_BYTES:
                continue
            yield bytes(buffer[len(MAGIC):len(MAGIC) + SALT_BYTES])
            del buffer[:len(MAGIC) + SALT_BYTES]
            seen_header = True
        while len(buffer) >= _FRAME.size:
            if finished:
                raise ArchiveCorrupt("bytes after the last frame")
            length, flags = _FRAME.unpack_from(buffer)
            if length > FRAME_BYTES + _TAG_BYTES or length < _TAG_BYTES or flags & ~(LAST | ZSTD):
                raise ArchiveCorrupt(f"frame {index} has an impossible header")
            if len(buffer) < _FRAME.size + length:
                break
            body = bytes(buffer[_FRAME.size:_FRAME.size + length])
            del buffer[:_FRAME.size + length]
            yield index, flags, body
            index += 1
            finished = bool(flags & LAST)
    if finished and buffer:
        raise ArchiveCorrupt("bytes after the last frame")
    if not finished:
        raise ArchiveCorrupt("the archive is truncated (no last frame)")


def _open_frame(aead: AESGCM, frame: tuple[int, int, bytes]) -> bytes:
    index, flags, body = frame
    try:
        data = aead.decrypt(_NONCE.pack(index), body, _AAD.pack(index, flags))
    except InvalidTag as exc:
        raise ArchiveCorrupt(f"frame {index} fails authentication (damaged, or another key)") from exc
    if not flags & ZSTD:
        return data
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    try:
        out = decompressor.decompress(data, max_output_size=FRAME_BYTES)
    except zstandard.ZstdError as exc:
        raise ArchiveCorrupt(f"frame {index} does not decompress: {exc}") from exc
    if len(out) > FRAME_BYTES:
        raise ArchiveCorrupt(f"frame {index} is larger than a frame")
    return out
