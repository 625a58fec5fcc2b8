"""Typed models of the API's answers. Unknown fields (a newer server) are ignored, missing
optional ones default, so an SDK keeps working across server versions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar, get_type_hints

T = TypeVar("T", bound="Model")


def _parse_datetime(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


@dataclass(frozen=True)
class Model:
    _datetimes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            hint = str(hints.get(f.name, ""))
            if "datetime" in hint:
                value = _parse_datetime(value)
            nested = _NESTED.get((cls.__name__, f.name))
            if nested is not None and value is not None:
                value = [nested.from_dict(v) for v in value] if isinstance(value, list) else nested.from_dict(value)
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class Operation(Model):
    id: str
    kind: str
    status: str
    instance_id: str = ""
    actor: str = ""
    error_code: str = ""
    error_message: str = ""
    progress: float = 0.0
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Instance(Model):
    id: str
    slug: str
    app: str
    status: str
    desired_state: str = ""
    url: str = ""
    host: str = ""
    app_version: str = ""
    status_message: str = ""
    memory_mb: int = 0
    cpus: float = 0.0
    created_at: datetime | None = None


@dataclass(frozen=True)
class InstanceCreated(Model):
    instance: Instance
    operation: Operation


@dataclass(frozen=True)
class Team(Model):
    id: str
    name: str
    slug: str
    role: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Member(Model):
    id: str
    email: str
    role: str
    name: str = ""
    joined_at: datetime | None = None


@dataclass(frozen=True)
class Invitation(Model):
    id: str
    email: str
    role: str
    expires_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ApiKey(Model):
    id: str
    name: str
    prefix: str
    scope: str
    billing: str = ""
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class WebhookEndpoint(Model):
    id: str
    url: str
    event_types: list[str] = field(default_factory=list)
    enabled: bool = True
    description: str = ""
    disabled_reason: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class WebhookEndpointCreated(Model):
    endpoint: WebhookEndpoint
    secret: str = field(repr=False, default="")


@dataclass(frozen=True)
class WebhookDelivery(Model):
    id: int
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int = 0
    delivered_at: datetime | None = None
    created_at: datetime | None = None
    replay_of: int | None = None


@dataclass(frozen=True)
class Notification(Model):
    id: str
    title: str
    event_type: str = ""
    body: str = ""
    url: str = ""
    read: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class AuditEvent(Model):
    id: int
    created_at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    team_id: str | None = None
    ip: str | None = None
    user_agent: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    anonymised: bool = False


@dataclass(frozen=True)
class App(Model):
    name: str
    title: str = ""
    description: str = ""
    version: str = ""


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    count: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.count


_NESTED: dict[tuple[str, str], type[Model]] = {
    ("InstanceCreated", "instance"): Instance,
    ("InstanceCreated", "operation"): Operation,
    ("WebhookEndpointCreated", "endpoint"): WebhookEndpoint,
}
