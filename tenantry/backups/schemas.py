from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Schema
from pydantic import Field

from tenantry.instances.bounds import MAX_CPUS, MAX_MEMORY_MB, MIN_CPUS, MIN_MEMORY_MB_PER_SERVICE
from tenantry.instances.schemas import InstanceOut, OperationOut


class BackupVolumeOut(Schema):
    name: str
    size: int = Field(description="Stored bytes (compressed, encrypted)")
    sha256: str
    tar_size: int = Field(description="Bytes of the volume's tar archive")


class BackupOut(Schema):
    id: UUID
    instance_slug: str
    instance_id: UUID | None
    app: str
    app_version: str
    kind: str
    status: str
    target: str
    size_bytes: int
    created_at: datetime
    completed_at: datetime | None
    age_seconds: int
    error_code: str
    error_message: str
    operation_id: UUID | None
    volumes: list[BackupVolumeOut]

    @staticmethod
    def resolve_volumes(obj) -> list[dict]:
        return obj.manifest.get("volumes", []) if obj.manifest else []

    @staticmethod
    def resolve_age_seconds(obj) -> int:
        from django.utils import timezone

        return int((timezone.now() - obj.created_at).total_seconds())


class BackupCreatedOut(Schema):
    backup: BackupOut
    operation: OperationOut


class CloneIn(Schema):
    slug: str = Field(description="Name of the new instance", max_length=63)
    memory_mb: int | None = Field(default=None, ge=MIN_MEMORY_MB_PER_SERVICE, le=MAX_MEMORY_MB)
    cpus: float | None = Field(default=None, ge=MIN_CPUS, le=MAX_CPUS, allow_inf_nan=False)


class ClonedOut(Schema):
    instance: InstanceOut
    operation: OperationOut


class DrillCheckOut(Schema):
    name: str
    ok: bool
    detail: str


class DrillOut(Schema):
    id: UUID
    instance_id: UUID
    backup_id: UUID | None
    status: str = Field(description="running, passed or failed")
    checks: list[DrillCheckOut]
    error_code: str
    error_message: str
    created_at: datetime
    completed_at: datetime | None
