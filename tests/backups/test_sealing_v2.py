"""Archive format 2 (zstd + AES-256-GCM frames) and the v1 archives it must still read."""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.fernet import Fernet

from tenantry.accounts.models import Team
from tenantry.backups import archive
from tenantry.backups.models import Backup, BackupStatus
from tenantry.backups.sealing import FRAME_BYTES, LAST, MAGIC, SALT_BYTES, ZSTD, ArchiveCorrupt, Digest, seal, unseal
from tenantry.backups.sealing_v1 import MAGIC as MAGIC_V1
from tenantry.backups.sealing_v1 import seal_v1

_FRAME = struct.Struct(">IB")


def _frames(stored: bytes) -> tuple[bytes, list[bytes]]:
    """The header and each whole frame (length + flags + ciphertext) of a v2 archive."""
    header, rest = stored[:len(MAGIC) + SALT_BYTES], stored[len(MAGIC) + SALT_BYTES:]
    frames = []
    while rest:
        length, _ = _FRAME.unpack_from(rest)
        frames.append(rest[:_FRAME.size + length])
        rest = rest[_FRAME.size + length:]
    return header, frames


def _seal(data: list[bytes], key: bytes) -> bytes:
    return b"".join(seal(data, key, plain=Digest()))


def test_new_archives_are_format_2_and_random_data_is_stored_raw():
    key = Fernet.generate_key()
    noise = os.urandom(3 * FRAME_BYTES)
    text = b"".join(b"%d\n" % i for i in range(400_000))
    stored = _seal([noise, text], key)
    assert stored.startswith(MAGIC)
    _, frames = _frames(stored)
    flags = [frame[4] for frame in frames]
    assert [f & ZSTD for f in flags[:3]] == [0, 0, 0]  # incompressible: kept raw, not grown
    assert all(f & ZSTD for f in flags[3:])  # the text is compressed
    assert [f & LAST for f in flags] == [0] * (len(frames) - 1) + [LAST]
    assert sum(len(f) for f in frames[:3]) == 3 * (FRAME_BYTES + 16 + _FRAME.size)
    assert len(stored) < len(noise) + len(text) // 2
    assert b"".join(unseal([stored[i:i + 70_001] for i in range(0, len(stored), 70_001)], key)) == noise + text


def test_every_archive_has_its_own_key():
    key = Fernet.generate_key()
    first, second = _seal([b"same bytes" * 1000], key), _seal([b"same bytes" * 1000], key)
    assert first[len(MAGIC):len(MAGIC) + SALT_BYTES] != second[len(MAGIC):len(MAGIC) + SALT_BYTES]
    assert first[len(MAGIC) + SALT_BYTES:] != second[len(MAGIC) + SALT_BYTES:]


@pytest.mark.parametrize("damage", ["swap", "repeat", "drop_middle", "drop_last", "flag", "salt"])
def test_reordered_repeated_missing_or_relabelled_frames_are_refused(damage):
    key = Fernet.generate_key()
    header, frames = _frames(_seal([os.urandom(3 * FRAME_BYTES + 5)], key))
    assert len(frames) == 4
    if damage == "swap":
        frames[1], frames[2] = frames[2], frames[1]
    elif damage == "repeat":
        frames.insert(2, frames[1])
    elif damage == "drop_middle":
        del frames[1]
    elif damage == "drop_last":
        del frames[-1]
    elif damage == "flag":  # frame 1 claims to be the last: the rest would be ignored
        frames[1] = frames[1][:4] + bytes([frames[1][4] | LAST]) + frames[1][5:]
        del frames[2:]
    else:
        header = header[:-1] + bytes([header[-1] ^ 1])
    with pytest.raises(ArchiveCorrupt):
        b"".join(unseal([header + b"".join(frames)], key))


def test_a_v1_archive_still_opens_with_its_checksums():
    key = Fernet.generate_key()
    data = [os.urandom(300_000), b"abc" * 700_000]
    plain_in, plain_out, stored_digest = Digest(), Digest(), Digest()
    stored = b"".join(seal_v1(data, key, plain=plain_in))
    assert stored.startswith(MAGIC_V1)
    back = b"".join(unseal([stored[:7], stored[7:]], key, stored_digest=stored_digest, plain=plain_out))
    assert back == b"".join(data)
    assert (plain_out.size, plain_out.sha256) == (plain_in.size, plain_in.sha256)
    assert stored_digest.size == len(stored)
    with pytest.raises(ArchiveCorrupt, match="authentication"):
        b"".join(unseal([stored], Fernet.generate_key()))


@pytest.mark.django_db
def test_a_backup_made_in_format_1_restores_through_the_archive_reader(settings, tmp_path):
    """What a restore reads: a v1 object at the target, checked against its manifest entry."""
    from tenantry.core.backends import reset_backends

    settings.BACKUP_TARGETS = {"local": {"BACKEND": "tenantry.backups.targets.local.LocalTarget",
                                         "OPTIONS": {"directory": str(tmp_path)}}}
    reset_backends()
    team = Team.objects.create(name="Old archives", slug="old-archives")
    backup = Backup.objects.create(team=team, instance_slug="old", app="hello", target="local",
                                   prefix="old/1", status=BackupStatus.SUCCEEDED)
    tar = os.urandom(200_000) + b"text " * 300_000
    plain = Digest()
    stored = archive.target("local").put("old/1/data.tar.gz.enc", seal_v1([tar], archive.team_key(team), plain=plain))
    entry = {"name": "data", "key": stored.key, "size": stored.size, "sha256": stored.sha256,
             "tar_size": plain.size, "tar_sha256": plain.sha256}
    assert b"".join(archive.read_object(backup, entry)) == tar
    with pytest.raises(archive.BackupCorrupt):
        b"".join(archive.read_object(backup, {**entry, "tar_sha256": "0" * 64}))
    reset_backends()


def _until_refused(chunks) -> bytes:
    """What a reader gave before it raised BackupCorrupt (it must raise)."""
    given = bytearray()
    with pytest.raises(archive.BackupCorrupt):
        for chunk in chunks:
            given += chunk
    return bytes(given)


@pytest.mark.django_db
def test_the_restore_s_write_pass_checks_the_stored_bytes_and_leaves_the_tar_s_sha256_to_verify(settings, tmp_path):
    """A restore's write pass (check_tar_sha256=False) hashes the stored bytes only: they pin the
    tar. It still refuses a flipped byte, another archive of the same team put in the object's
    place and a tar of another size, each before its last chunk; the tar's own sha256 is proven
    by verify_backup, which runs before a restore touches anything."""
    from tenantry.core.backends import reset_backends

    settings.BACKUP_TARGETS = {"local": {"BACKEND": "tenantry.backups.targets.local.LocalTarget",
                                         "OPTIONS": {"directory": str(tmp_path)}}}
    reset_backends()
    team = Team.objects.create(name="Write pass", slug="write-pass")
    key = archive.team_key(team)
    backup = Backup.objects.create(team=team, instance_slug="w", app="hello", target="local", prefix="w/1",
                                   status=BackupStatus.SUCCEEDED)
    store = archive.target("local")
    tar = os.urandom(3 * FRAME_BYTES) + b"text " * 400_000
    plain = Digest()
    stored = store.put("w/1/data.tar.gz.enc", seal([tar], key, plain=plain))
    entry = {"name": "data", "key": stored.key, "size": stored.size, "sha256": stored.sha256,
             "tar_size": plain.size, "tar_sha256": plain.sha256}

    def write_pass(entry: dict):
        return archive.read_object(backup, entry, check_tar_sha256=False)

    assert b"".join(write_pass(entry)) == tar
    # A manifest whose tar sha256 is wrong (what only a bug in our own sealing could make):
    # the write pass relies on the stored bytes, verify_backup refuses it.
    assert b"".join(write_pass({**entry, "tar_sha256": "0" * 64})) == tar
    backup.manifest = {"volumes": [{**entry, "tar_sha256": "0" * 64}], "values": entry}
    with pytest.raises(archive.BackupCorrupt, match="differs from the manifest"):
        archive.verify_backup(backup, log=lambda _: None)

    assert len(_until_refused(write_pass({**entry, "tar_size": len(tar) + 1}))) < len(tar)
    path = tmp_path / stored.key
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))
    assert len(_until_refused(write_pass(entry))) < len(tar)
    # Another valid archive of the same team (same key, every frame authentic) in its place.
    store.put(stored.key, seal([tar[:-1] + b"!"], key, plain=Digest()))
    assert len(_until_refused(write_pass(entry))) < len(tar)
    reset_backends()
