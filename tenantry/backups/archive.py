"""Writing, verifying and reading back one backup: the work the backup steps do.

Per volume: helper container tar stream → zstd + AES-GCM frames (the team's key, see sealing.py)
→ target, all streamed, nothing spooled on the control plane's disk; the stages run in their own
threads with bounded queues between them (pipeline.py), so reading, sealing and sending overlap.
The instance's generated secrets and hook outputs travel with it (sealed the same way), so a
restore to a new instance gets the credentials its data was made with (n8n's encryption key…).
The manifest (sizes and sha256 of every stored object and of the tar inside it) goes to the
database and, in clear, next to the objects.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator

from cryptography.fernet import Fernet
from django.db import transaction

from tenantry.accounts.models import Team
from tenantry.backups.models import Backup, BackupKey
from tenantry.backups.pipeline import prefetch
from tenantry.backups.sealing import ArchiveCorrupt, Digest, seal, unseal
from tenantry.backups.targets.base import BackupTarget, StoredObject
from tenantry.core.backends import load_backend
from tenantry.core.crypto import decrypt, encrypt
from tenantry.instances.models import Instance, InstanceSecret
from tenantry.instances.naming import resource_prefix
from tenantry.runtime.backends.base import BackendError, Deployment, RuntimeBackend

FORMAT = 2  # the manifest's; the archives' own format is in their header (sealing.py)
PREFETCH_CHUNKS = 8  # per stage, ~1 MiB each
RESTORE_PREFETCH_CHUNKS = 32  # more on the way back: the download runs ahead while the helper starts
PROGRESS_EVERY_BYTES = 64 * 1024 * 1024
Log = Callable[[str], None]


class BackupCorrupt(BackendError):
    """The stored backup is not what its manifest says: refused (retrying will not help)."""

    code = "backup_corrupt"


def target(alias: str) -> BackupTarget:
    return load_backend("BACKUP_TARGETS", alias)


def team_key(team: Team) -> bytes:
    """The team's backup key, made on first use (the row is locked: two workers agree on one)."""
    found = BackupKey.objects.filter(team=team).first()
    if found is None:
        with transaction.atomic():
            BackupKey.objects.get_or_create(team=team, defaults={"ciphertext": encrypt(Fernet.generate_key().decode())})
        found = BackupKey.objects.get(team=team)
    return decrypt(found.ciphertext).encode()


def volume_names(instance: Instance, deployment: Deployment, wanted: list[str]) -> dict[str, str]:
    """{name in the app spec: engine volume name}; `wanted` empty: every volume."""
    prefix = resource_prefix(instance.slug) + "-"
    names = {engine.removeprefix(prefix): engine for engine in deployment.volumes}
    return {name: engine for name, engine in sorted(names.items()) if not wanted or name in wanted}


def object_key(backup: Backup, name: str) -> str:
    return f"{backup.prefix}/{name}"


def write_backup(backup: Backup, *, runtime: RuntimeBackend, deployment: Deployment, volumes: dict[str, str],
                 log: Log, dumps: list[str] | None = None) -> dict:
    """Store every volume and the instance's values; returns the manifest. Each object is
    confirmed at the target (size and checksum) before the next one starts."""
    store = target(backup.target)
    key = team_key(backup.team)
    entries = []
    for name, engine_volume in volumes.items():
        log(f"volume {name}: reading")
        plain = Digest()
        # Closed explicitly when the upload fails: a traceback keeps a half-read generator alive,
        # and with it the helper container and the engine's open archive stream.
        # (prefetch closes what it reads in its own thread when the upload stops early.)
        with contextlib.closing(prefetch(runtime.export_volume(deployment, engine_volume), depth=PREFETCH_CHUNKS,
                                         name="export")) as exported:
            stream = _progress(exported, log, f"volume {name}")
            sealed = prefetch(seal(stream, key, plain=plain), depth=PREFETCH_CHUNKS, name="seal")
            with contextlib.closing(sealed):
                stored = store.put(object_key(backup, f"{name}.tar.gz.enc"), sealed)
        entries.append({"name": name, **_entry(stored), "tar_size": plain.size, "tar_sha256": plain.sha256})
        log(f"volume {name}: {_mb(plain.size)} of data, {_mb(stored.size)} stored and confirmed at the target")
    values_plain = Digest()
    values = json.dumps(_instance_values(backup.instance)).encode() if backup.instance else b"{}"
    stored = store.put(object_key(backup, "values.enc"), seal([values], key, plain=values_plain))
    manifest = {"format": FORMAT, "instance": backup.instance_slug, "app": backup.app,
                "app_version": backup.app_version, "volumes": entries, "dumps": list(dumps or []),
                "values": {**_entry(stored), "tar_size": values_plain.size, "tar_sha256": values_plain.sha256}}
    store.put(object_key(backup, "manifest.json"), [json.dumps(manifest, indent=2).encode()])
    return manifest


def stored_size(manifest: dict) -> int:
    return sum(v["size"] for v in manifest.get("volumes", [])) + manifest.get("values", {}).get("size", 0)


def verify_backup(backup: Backup, log: Log) -> None:
    """Read every object back and check it against the manifest; BackupCorrupt when one differs.
    Nothing is written anywhere: this runs before a restore touches anything."""
    for entry in [*backup.manifest.get("volumes", []), backup.manifest.get("values")]:
        if not entry:
            raise BackupCorrupt("the backup's manifest is incomplete")
        for _ in read_object(backup, entry):
            pass
        log(f"{entry['key'].rsplit('/', 1)[-1]}: {_mb(entry['size'])}, checksums match")


def read_object(backup: Backup, entry: dict, *, check_tar_sha256: bool = True) -> Iterator[bytes]:
    """The plaintext of one stored object, checked against its manifest entry as it streams;
    raises BackupCorrupt at the first difference (the last chunk is only given once the checks
    passed). See read_stored for `check_tar_sha256`."""
    yield from read_stored(target(backup.target), entry, team_key(backup.team), check_tar_sha256=check_tar_sha256)


def read_stored(store: BackupTarget, entry: dict, key: bytes, *, check_tar_sha256: bool = True) -> Iterator[bytes]:
    """read_object's work, on a target and key at hand (the benchmarks call it too).

    Every frame is authenticated as it is opened, and the stored bytes' size and sha256 and the
    tar's size are always checked. The tar's sha256 (`check_tar_sha256`) is as costly as the
    stored bytes' (a second pass over more bytes) and adds nothing to them: opening is a
    function of the stored bytes and the key (each AES-GCM frame decrypts to exactly what was
    sealed, zstd decompression is deterministic), so stored bytes matching the manifest can
    only give the tar that was backed up. It proves that round trip once, by verify_backup,
    before a restore touches anything; the restore's write pass leaves it out."""
    stored, plain = Digest(), Digest()
    pending: bytes | None = None
    plain_size = 0
    # The stored bytes are hashed in the download's thread, the frames opened in the unseal's
    # (and its pool): hashlib, AES-GCM and zstd release the GIL, so the two run side by side.
    download = prefetch(_digested(store.get(entry["key"]), stored), depth=RESTORE_PREFETCH_CHUNKS, name="download")
    opened = prefetch(unseal(download, key, plain=plain if check_tar_sha256 else None),
                      depth=RESTORE_PREFETCH_CHUNKS, name="unseal")
    try:
        for chunk in opened:
            plain_size += len(chunk)
            if pending is not None:
                yield pending
            pending = chunk
    except ArchiveCorrupt as exc:
        raise BackupCorrupt(f"{entry['key']} is damaged: {exc}") from exc
    finally:
        opened.close()
    if (stored.size, stored.sha256) != (entry["size"], entry["sha256"]):
        raise BackupCorrupt(f"{entry['key']}: {stored.size} bytes with sha256 {stored.sha256[:12]}…, the manifest "
                            f"says {entry['size']} bytes with {entry['sha256'][:12]}…")
    if plain_size != entry["tar_size"] or (check_tar_sha256 and plain.sha256 != entry["tar_sha256"]):
        raise BackupCorrupt(f"{entry['key']}: the data inside differs from the manifest")
    if pending is not None:
        yield pending


def restore_volumes(backup: Backup, *, runtime: RuntimeBackend, deployment: Deployment,
                    volumes: dict[str, str], log: Log) -> None:
    """Replace each volume's content with the backup's (the app's containers are stopped)."""
    entries = {entry["name"]: entry for entry in backup.manifest.get("volumes", [])}
    missing = sorted(set(entries) - set(volumes))
    if missing:
        raise BackendError(f"the instance has no volume {', '.join(missing)} to restore into", code="volume_mismatch")
    for name, entry in entries.items():
        log(f"volume {name}: writing {_mb(entry['tar_size'])}")
        # The write pass checks the stored bytes, which pin the tar (read_stored says why); a
        # restore's verify_backup checked the tar's own sha256 before anything was touched.
        data = read_object(backup, entry, check_tar_sha256=False)
        runtime.import_volume(deployment, volumes[name], _progress(data, log, f"volume {name}"))
        log(f"volume {name}: restored")


def read_values(backup: Backup) -> dict[str, str]:
    entry = backup.manifest.get("values")
    if not entry:
        raise BackupCorrupt("the backup has no instance values")
    return json.loads(b"".join(read_object(backup, entry)))


def replace_values(instance: Instance, values: dict[str, str]) -> None:
    """Give a new instance the stored values (ciphertexts re-made with the current key)."""
    with transaction.atomic():
        InstanceSecret.objects.filter(instance=instance).delete()
        InstanceSecret.objects.bulk_create([InstanceSecret(instance=instance, name=name, ciphertext=encrypt(value))
                                            for name, value in sorted(values.items())])


def delete_objects(backup: Backup) -> None:
    store = target(backup.target)
    keys = [entry["key"] for entry in backup.manifest.get("volumes", [])]
    keys += [object_key(backup, name) for name in ("values.enc", "manifest.json")]
    for key in keys:
        store.delete(key)


def _instance_values(instance: Instance) -> dict[str, str]:
    return {row.name: decrypt(row.ciphertext) for row in InstanceSecret.objects.filter(instance=instance)}


def _entry(stored: StoredObject) -> dict:
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256}


def _digested(chunks: Iterable[bytes], digest: Digest) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _progress(chunks: Iterable[bytes], log: Log, what: str) -> Iterator[bytes]:
    done = 0
    next_report = PROGRESS_EVERY_BYTES
    for chunk in chunks:
        done += len(chunk)
        if done >= next_report:
            log(f"{what}: {_mb(done)} so far")
            next_report += PROGRESS_EVERY_BYTES
        yield chunk


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
