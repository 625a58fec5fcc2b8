"""What a backup of an app's instance holds, as its spec declares it (tenantry.backups reads it)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from tenantry.catalog.spec_base import NAME_PATTERN, Strict


class VolumeCommand(Strict):
    """A command run, before the app starts, in a helper container (any image with /bin/sh) that
    mounts one of the instance's volumes at /volume, e.g. to put a dump in place of the raw copy
    of a live database file, or to empty a database directory so it is made afresh."""

    volume: str
    command: list[str] = Field(min_length=1)


class BackupDump(Strict):
    """A consistent copy made by the app's own tools just before its volumes are read, e.g. an
    online SQLite `.backup` or a `pg_dump`: a command run in a running service that writes the
    copy into one of its volumes (so it travels with the volume archive). Skipped when the
    service is not running: its files are at rest then, and the volume itself is consistent.

    A backup records the dumps it made; a restore of such a backup applies them, after the
    volumes are back and before the app starts: first `restore_volumes` (helper containers on
    the volumes), then `restore` run in `service`, started alone and healthy."""

    name: str = Field(pattern=NAME_PATTERN)
    service: str
    command: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=600, gt=0, le=6 * 3600)
    restore_volumes: list[VolumeCommand] = Field(default_factory=list)
    restore: list[str] = Field(default_factory=list)


class VerifyCheck(Strict):
    """An app-specific proof that a restore holds the backed-up data (restore drills): a command
    run in `service` whose output is recorded when the backup is made (after the dumps) and must
    be the same in the scratch instance the drill restores it into, e.g. the workflows' ids and
    names, the tables and their row counts, the files' checksums."""

    name: str = Field(pattern=NAME_PATTERN)
    service: str
    command: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=120, gt=0, le=3600)


class BackupSpec(Strict):
    """What a backup of an instance of this app holds (tenantry.backups)."""

    # Volume names (of `services.*.volumes`); empty: every volume but caches (`cache: true`).
    volumes: list[str] = Field(default_factory=list)
    dumps: list[BackupDump] = Field(default_factory=list)
    verify: list[VerifyCheck] = Field(default_factory=list)

    def check(self, *, services: set[str], volumes: set[str], check_template: Callable[[str, str], None]) -> None:
        """Raise ValueError when the section names a service or volume the app lacks, or uses
        a template variable it does not have (called by AppSpec's validator)."""
        for name in self.volumes:
            if name not in volumes:
                raise ValueError(f"backup.volumes: unknown volume {name!r}")
        names = [dump.name for dump in self.dumps]
        if len(set(names)) != len(names):
            raise ValueError("backup.dumps: names must be unique")
        for dump in self.dumps:
            where = f"backup.dumps.{dump.name}"
            if dump.service not in services:
                raise ValueError(f"{where}.service: unknown service {dump.service!r}")
            for step in dump.restore_volumes:
                if step.volume not in volumes:
                    raise ValueError(f"{where}.restore_volumes: unknown volume {step.volume!r}")
                if self.volumes and step.volume not in self.volumes:
                    raise ValueError(f"{where}.restore_volumes: volume {step.volume!r} is not backed up")
            for field, args in (("command", dump.command), ("restore", dump.restore),
                                *((f"restore_volumes.{s.volume}", s.command) for s in dump.restore_volumes)):
                for index, arg in enumerate(args):
                    check_template(f"{where}.{field}.{index}", arg)
        for check in self.verify:
            if check.service not in services:
                raise ValueError(f"backup.verify.{check.name}.service: unknown service {check.service!r}")
            for index, arg in enumerate(check.command):
                check_template(f"backup.verify.{check.name}.command.{index}", arg)
