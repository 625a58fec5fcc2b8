from __future__ import annotations

from datetime import datetime, time
from uuid import UUID

from ninja import Schema
from pydantic import Field


class RolloutIn(Schema):
    app: str
    to_version: str
    instances: list[str] | None = Field(default=None, description="Slugs or ids; omit for a percentage or all")
    percent: int | None = Field(default=None, ge=1, le=100, description="Of the app's running instances")
    max_failures: int = Field(default=0, ge=0, description="The rollout stops once more updates failed")
    concurrency: int = Field(default=1, ge=1, le=20)
    respect_windows: bool = Field(default=True, description="Wait for each team's maintenance window")


class RolloutTargetOut(Schema):
    instance_id: UUID
    slug: str
    from_version: str
    status: str
    message: str
    operation_id: UUID | None
    finished_at: datetime | None

    @staticmethod
    def resolve_slug(obj) -> str:
        return obj.instance.slug


class RolloutOut(Schema):
    id: UUID
    app: str
    to_version: str
    scope: str
    percent: int | None
    max_failures: int
    concurrency: int
    respect_windows: bool
    status: str
    status_message: str
    actor: str
    created_at: datetime
    finished_at: datetime | None
    targets: list[RolloutTargetOut]

    @staticmethod
    def resolve_targets(obj) -> list:
        return list(obj.targets.select_related("instance").order_by("position"))


class MaintenanceWindowIn(Schema):
    start_time: time = Field(description="Local time the window opens, e.g. 02:00")
    duration_minutes: int = Field(ge=30, le=1440)
    weekdays: list[int] = Field(default=[], description="0 = Monday … 6 = Sunday; empty = every day")
    timezone: str = "UTC"


class MaintenanceWindowOut(Schema):
    start_time: time
    duration_minutes: int
    weekdays: list[int]
    timezone: str
    open_now: bool

    @staticmethod
    def resolve_open_now(obj) -> bool:
        from django.utils import timezone

        return obj.is_open(timezone.now())


class TemplatePushIn(Schema):
    instances: list[str] | None = Field(default=None, description="Slugs or ids; omit for every instance that has it")


class TemplatePushOut(Schema):
    instance: str
    ok: bool
    version: str
    message: str


class InstanceTemplateOut(Schema):
    name: str
    workflow_id: str
    version: str
    previous_version: str
    updated_at: datetime
