"""What a backup of an app's instance holds, as its spec declares it (tenantry.backups reads it)."""

from __future__ import annotations

from pydantic import Field

from tenantry.catalog.spec_base import NAME_PATTERN, Strict


class BackupDump(Strict):
    """A consistent copy made by the app's own tools just before its volumes are read, e.g. an
    online SQLite `.backup` or a `pg_dump`: a command run in a running service that writes the
    copy into one of its volumes (so it travels with the volume archive). Skipped when the
    service is not running: its files are at rest then, and the volume itself is consistent."""

    name: str = Field(pattern=NAME_PATTERN)
    service: str
    command: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=600, gt=0, le=6 * 3600)


class BackupSpec(Strict):
    """What a backup of an instance of this app holds (tenantry.backups)."""

    # Volume names (of `services.*.volumes`); empty: every volume.
    volumes: list[str] = Field(default_factory=list)
    dumps: list[BackupDump] = Field(default_factory=list)
