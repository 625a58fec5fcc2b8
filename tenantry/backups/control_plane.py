"""The control plane's own backup: its database (SQLite online backup or `pg_dump`) and the
key and secret files of its data directory, in one tar, compressed and encrypted with the
control-plane backup key, stored at a backup target like the instances' backups.

The key (`TENANTRY_CONTROL_BACKUP_KEY`, a Fernet key) is *not* in the backup: whoever restores
brings it (kept apart, e.g. in the operators' password manager). Everything else a fresh machine
needs is inside, including the keys that decrypt the instances' credentials and backups.

At the target: `control-plane/<installation id>/<UTC time>-<random>.tnb`, and `…/LATEST` naming the newest
one (restore without naming a backup reads it). The newest CONTROL_BACKUP_KEEP are kept.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connections
from django.utils import timezone

from tenantry.backups.archive import target
from tenantry.backups.sealing import ArchiveCorrupt, Digest, seal, unseal
from tenantry.core.errors import ApplicationError
from tenantry.runtime.backends.base import BackendError

# The data directory's files a restored control plane needs (those that exist are saved).
DATA_FILES = ("secrets.key", "secret_key", "installation_id", "edge_secret", "gateway_api_key",
              "gateway_webhook_secret", "traefik/acme.json")
PREFIX = "control-plane"
Log = Callable[[str], None]


class ControlBackupError(ApplicationError):
    code = "control_backup_failed"
    status = 500


class ControlRestoreRefused(ApplicationError):
    code = "control_restore_refused"
    status = 409


@dataclass(frozen=True)
class ControlBackup:
    key: str
    size: int
    sha256: str
    manifest: dict


def backup_key() -> bytes:
    key = settings.TENANTRY.get("CONTROL_BACKUP_KEY") or ""
    if not key:
        raise ControlBackupError("TENANTRY_CONTROL_BACKUP_KEY is not set: generate one with "
                                 "`tenantry backup --new-key`, keep it apart from this machine, "
                                 "and set it in the environment file.", code="control_backup_key_missing")
    try:
        Fernet(key.encode())
    except ValueError as exc:
        raise ControlBackupError("TENANTRY_CONTROL_BACKUP_KEY is not a Fernet key (32 url-safe base64-encoded "
                                 "bytes): generate one with `tenantry backup --new-key`.",
                                 code="control_backup_key_invalid") from exc
    return key.encode()


def _installation_prefix(installation_id: str | None = None) -> str:
    return f"{PREFIX}/{installation_id or settings.TENANTRY['INSTALLATION_ID']}"


# --- backup -----------------------------------------------------------------------------------
def control_plane_backup(*, target_alias: str | None = None, log: Log = lambda line: None) -> ControlBackup:
    """Back the control plane up now; returns where it went. Loud on failure: nothing is named
    LATEST until the stored object's size and checksum were confirmed by the target."""
    key = backup_key()
    alias = target_alias or settings.TENANTRY["BACKUP_TARGET"]
    store = target(alias)
    with tempfile.TemporaryDirectory(prefix="tenantry-cp-") as scratch:
        dump_name, dump_path = _dump_database(Path(scratch))
        log(f"database: {dump_name} ({dump_path.stat().st_size / 1_000_000:.1f} MB)")
        files = {name: Path(settings.DATA_DIR) / name for name in DATA_FILES
                 if (Path(settings.DATA_DIR) / name).is_file()}
        keys_file = _configured_keys_file()
        if keys_file is not None:
            files["secrets.key"] = keys_file  # the keys live outside the data dir: bring them along
        log(f"files: {', '.join(sorted(files)) or 'none'}")
        manifest = {"format": 1, "created_at": timezone.now().isoformat(),
                    "installation_id": settings.TENANTRY["INSTALLATION_ID"],
                    "database": {"vendor": connections["default"].vendor, "file": dump_name},
                    "files": sorted(files)}
        object_key = f"{_installation_prefix()}/{timezone.now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}.tnb"
        plain = Digest()
        stored = store.put(object_key, seal(_tar_stream(manifest, dump_name, dump_path, files), key, plain=plain))
    confirmed = store.size(object_key)
    if confirmed != stored.size:
        raise ControlBackupError(f"the target reports {confirmed} bytes for {object_key}, {stored.size} were sent")
    store.put(f"{_installation_prefix()}/LATEST", [object_key.encode()])
    _prune(store, object_key)
    log(f"stored {object_key} at {alias}: {stored.size / 1_000_000:.1f} MB, sha256 {stored.sha256[:16]}…")
    return ControlBackup(key=object_key, size=stored.size, sha256=stored.sha256, manifest=manifest)


def _configured_keys_file() -> Path | None:
    if settings.TENANTRY["SECRETS_KEYS"]:
        return None  # given in the environment: the restore brings the environment file
    configured = settings.TENANTRY.get("SECRETS_KEY_FILE") or ""
    return Path(configured) if configured else None


def _dump_database(scratch: Path) -> tuple[str, Path]:
    connection = connections["default"]
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        path = scratch / "database.sqlite3"
        source = sqlite3.connect(params["NAME"])
        try:
            destination = sqlite3.connect(path)
            with destination:
                source.backup(destination)  # SQLite's online backup: consistent while others write
            destination.close()
        finally:
            source.close()
        return path.name, path
    if connection.vendor == "postgresql":
        path = scratch / "database.pgdump"
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(path),
              "--dbname", params["NAME"]], params, "pg_dump")
        return path.name, path
    raise ControlBackupError(f"backing up a {connection.vendor} database is not supported")


def _pg_env(params: dict) -> dict[str, str]:
    env = {**os.environ}
    for var, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if params.get(key):
            env[var] = str(params[key])
    return env


def _run(command: list[str], params: dict, what: str) -> None:
    result = subprocess.run(command, env=_pg_env(params), capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise ControlBackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")


def _tar_stream(manifest: dict, dump_name: str, dump_path: Path, files: dict[str, Path]) -> Iterator[bytes]:
    buffer = _Chunks()
    with tarfile.open(fileobj=buffer, mode="w|") as tar:
        _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
        yield from buffer.drain()
        tar.add(dump_path, arcname=f"database/{dump_name}")
        yield from buffer.drain()
        for name, path in sorted(files.items()):
            _add_bytes(tar, f"files/{name}", path.read_bytes())
            yield from buffer.drain()
    yield from buffer.drain()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(timezone.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


class _Chunks(io.RawIOBase):
    """A write-only file whose bytes are taken out as they come (the tar is streamed)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> Iterator[bytes]:
        parts, self._parts = self._parts, []
        yield from parts


def _prune(store, newest: str) -> None:
    """Keep the newest CONTROL_BACKUP_KEEP backups; the index of what exists lives at the target."""
    index_key = f"{_installation_prefix()}/INDEX"
    try:
        index = json.loads(b"".join(store.get(index_key)))
    except BackendError:
        index = []
    index = [k for k in index if k != newest] + [newest]
    keep = settings.TENANTRY.get("CONTROL_BACKUP_KEEP", 14)
    for old in index[:-keep]:
        store.delete(old)
    store.put(index_key, [json.dumps(index[-keep:]).encode()])


# --- restore ----------------------------------------------------------------------------------
def control_plane_restore(*, key: str | None = None, target_alias: str | None = None,
                          installation_id: str | None = None, from_file: Path | None = None,
                          log: Log = lambda line: None) -> dict:
    """Restore the database and the data directory's files from a control-plane backup, onto a
    control plane that has no data yet (refused otherwise). Returns the backup's manifest.

    Then run `tenantry migrate` and `tenantry reconcile`: the reconciler adopts the instances
    that kept running (same installation id, same names), republishes their routes, and removes
    nothing it knows."""
    secret = backup_key()
    _refuse_unless_empty()
    if from_file is not None:
        stored: Iterator[bytes] = _read_file(from_file)
        log(f"reading {from_file}")
    else:
        store = target(target_alias or settings.TENANTRY["BACKUP_TARGET"])
        if key is None:
            latest = f"{_installation_prefix(installation_id)}/LATEST"
            try:
                key = b"".join(store.get(latest)).decode().strip()
            except BackendError as exc:
                raise ControlRestoreRefused(f"No control-plane backup at {latest}: {exc.message}",
                                            code="control_backup_not_found") from exc
        log(f"reading {key}")
        stored = store.get(key)
    with tempfile.TemporaryDirectory(prefix="tenantry-cp-") as scratch:
        root = Path(scratch)
        archive = root / "archive.tar"
        try:
            with archive.open("wb") as handle:
                for chunk in unseal(stored, secret):  # every frame authenticated, truncation refused
                    handle.write(chunk)
        except ArchiveCorrupt as exc:
            raise ControlRestoreRefused(f"The backup is damaged or was made with another key: {exc}",
                                        code="control_backup_corrupt") from exc
        with tarfile.open(archive) as tar:
            tar.extractall(root / "x", filter="data")
        manifest = json.loads((root / "x" / "manifest.json").read_text())
        database = manifest["database"]
        vendor = connections["default"].vendor
        if database["vendor"] != vendor:
            raise ControlRestoreRefused(f"This backup holds a {database['vendor']} database; this control plane "
                                        f"uses {vendor}.", code="control_backup_vendor_mismatch")
        _load_database(root / "x" / "database" / database["file"])
        log(f"database restored ({database['vendor']})")
        for name in manifest["files"]:
            _write_file(Path(settings.DATA_DIR) / name, (root / "x" / "files" / name).read_bytes())
        log(f"files restored into {settings.DATA_DIR}: {', '.join(manifest['files']) or 'none'}")
    return manifest


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


def _refuse_unless_empty() -> None:
    connection = connections["default"]
    tables = set(connection.introspection.table_names())
    if "instances_instance" not in tables:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts_team")
        teams = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM instances_instance")
        instances = cursor.fetchone()[0]
    if teams or instances:
        raise ControlRestoreRefused(f"This control plane already has data ({teams} team(s), {instances} "
                                    "instance(s)): restore onto a fresh data directory and an empty database.")


def _load_database(dump: Path) -> None:
    connection = connections["default"]
    params = connection.settings_dict
    connections.close_all()
    if connection.vendor == "sqlite":
        destination = sqlite3.connect(params["NAME"])
        source = sqlite3.connect(dump)
        try:
            with destination:
                source.backup(destination)  # replaces every page of the (empty) database
        finally:
            source.close()
            destination.close()
        return
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--dbname", params["NAME"], str(dump)], params, "pg_restore")


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.restoring")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)
