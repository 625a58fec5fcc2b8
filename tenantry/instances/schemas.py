from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Schema
from pydantic import Field

from tenantry.instances.bounds import (
    MAX_CPUS,
    MAX_HIBERNATE_AFTER_SECONDS,
    MAX_MEMORY_MB,
    MAX_PIDS,
    MIN_CPUS,
    MIN_MEMORY_MB_PER_SERVICE,
    MIN_PIDS_PER_SERVICE,
)


class InstanceCreateIn(Schema):
    slug: str = Field(description="Host label of the instance: <slug>.<base domain>", examples=["acme"],
                      max_length=63)
    app: str = Field(description="App name from the catalog", examples=["hello"], max_length=40)
    # Bounds keep any input inside the database columns; the plan's own limits are checked by the service.
    memory_mb: int | None = Field(default=None, ge=MIN_MEMORY_MB_PER_SERVICE, le=MAX_MEMORY_MB,
                                  description="Memory for the whole instance (default and maximum: the plan's)")
    cpus: float | None = Field(default=None, ge=MIN_CPUS, le=MAX_CPUS, allow_inf_nan=False,
                               description="CPUs for the whole instance (default and maximum: the plan's)")
    pids: int | None = Field(default=None, ge=MIN_PIDS_PER_SERVICE, le=MAX_PIDS)
    hibernate_after_seconds: int | None = Field(default=None, ge=0, le=MAX_HIBERNATE_AFTER_SECONDS,
                                                description="Idle time before hibernation; 0: never")
    inputs: dict[str, str] | None = Field(
        default=None, description="Values the app asks for (see GET /apps: `inputs`), e.g. an OpenAI API key; "
                                  "stored encrypted, secret ones never shown back")
    templates: list[str] | None = Field(
        default=None, description="Content to seed the app with (see GET /apps: `templates`); default: the app's")


class StepOut(Schema):
    position: int
    name: str
    title: str
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    log: str
    error: str


class OperationOut(Schema):
    id: UUID
    instance_id: UUID
    kind: str
    status: str
    actor: str
    error_code: str
    error_message: str
    progress: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: list[StepOut]


class OperationSummary(Schema):
    id: UUID
    kind: str
    status: str


class InstanceOut(Schema):
    id: UUID
    slug: str
    app: str
    app_version: str
    url: str
    host: str
    status: str
    desired_state: str
    status_message: str
    memory_mb: int
    cpus: float
    pids: int
    hibernate_after_seconds: int | None
    last_request_at: datetime | None
    created_at: datetime
    active_operation: OperationSummary | None = None

    @staticmethod
    def resolve_active_operation(obj) -> object | None:
        if isinstance(obj, dict):  # already serialized (replayed idempotent answer)
            return obj.get("active_operation")
        active = getattr(obj, "active_operations", None)
        if active is None:
            active = list(obj.operations.filter(status__in=["pending", "running"]))
        return active[0] if active else None


# The columns InstanceOut reads (`url` and `host` come from the slug, `active_operation` from the
# prefetched operations): what a page of the list loads (selectors.instance_list(only=…)).
INSTANCE_OUT_COLUMNS = ("id", "slug", "app", "app_version", "status", "desired_state", "status_message", "memory_mb",
                        "cpus", "pids", "hibernate_after_seconds", "last_request_at", "created_at")


class InstanceCreatedOut(Schema):
    instance: InstanceOut
    operation: OperationOut


class AppInputOut(Schema):
    name: str
    label: str
    help: str
    secret: bool
    required: bool
    kind: str
    default: str = ""


class AppOut(Schema):
    name: str
    title: str
    description: str
    version: str
    versions: list[str] = Field(default=[], description="Every version the catalog knows (updates)")
    services: list[str]
    images: list[str]
    memory_mb: int
    cpus: float
    inputs: list[AppInputOut] = []
    templates: list[str] = Field(default=[], description="Content templates available for this app")
    default_templates: list[str] = []


class ErrorOut(Schema):
    code: str
    message: str
    details: dict


# --- an instance's app logs (instances/api_logs.py) -----------------------------------------------
class LogLineOut(Schema):
    service: str
    at: datetime = Field(description="When the container wrote the line (UTC, microseconds)")
    text: str = Field(description="The line, secrets Tenantry holds for the instance replaced by ***")


class AppLogsOut(Schema):
    services: list[str] = Field(description="The instance's services (values of the `service` filter)")
    lines: list[LogLineOut] = Field(description="Oldest first")
    cursor: str = Field(description="Pass as `after` to get only the lines written since (follow)")
