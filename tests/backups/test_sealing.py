"""The archive format: what goes in comes out; any damage is detected, never returned as data."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet

from tenantry.backups.sealing import FRAME_BYTES, ArchiveCorrupt, Digest, seal, unseal


def _sealed(data: list[bytes], key: bytes) -> tuple[bytes, Digest]:
    plain = Digest()
    return b"".join(seal(data, key, plain=plain)), plain


def test_round_trip_in_odd_chunk_sizes_keeps_bytes_and_digests():
    key = Fernet.generate_key()
    data = [os.urandom(200_000) for _ in range(8)] + [b"z" * (3 * FRAME_BYTES)]
    stored, plain = _sealed(data, key)
    out, stored_digest = Digest(), Digest()
    pieces = [stored[i:i + 65_537] for i in range(0, len(stored), 65_537)]
    back = b"".join(unseal(pieces, key, stored_digest=stored_digest, plain=out))
    assert back == b"".join(data)
    assert (out.size, out.sha256) == (plain.size, plain.sha256)
    assert stored_digest.size == len(stored)
    assert len(stored) < plain.size  # compressed (the repeated tail), despite encryption overhead


def test_empty_input_is_a_valid_archive():
    key = Fernet.generate_key()
    stored, plain = _sealed([], key)
    assert b"".join(unseal([stored], key)) == b"" and plain.size == 0


@pytest.mark.parametrize("damage", ["flip", "truncate", "cut_frame", "append", "header"])
def test_damage_is_detected(damage):
    key = Fernet.generate_key()
    stored, _ = _sealed([os.urandom(2 * FRAME_BYTES + 10)], key)
    if damage == "flip":
        position = len(stored) // 2
        stored = stored[:position] + bytes([stored[position] ^ 0x01]) + stored[position + 1:]
    elif damage == "truncate":
        stored = stored[:-1]
    elif damage == "cut_frame":
        stored = stored[:len(stored) // 3]
    elif damage == "append":
        stored += b"\0"
    else:
        stored = b"X" + stored[1:]
    with pytest.raises(ArchiveCorrupt):
        b"".join(unseal([stored], key))


def test_another_key_cannot_read_it():
    stored, _ = _sealed([b"secret data"], Fernet.generate_key())
    with pytest.raises(ArchiveCorrupt, match="authentication"):
        b"".join(unseal([stored], Fernet.generate_key()))
