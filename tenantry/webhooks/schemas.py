from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class EndpointIn(Schema):
    url: str = Field(..., max_length=2000, description="http(s) URL; must resolve to public addresses")
    event_types: list[str] = Field(..., max_length=50, description="Event types or wildcards: `instance.*`, `*`")
    description: str = Field("", max_length=200)


class EndpointPatch(Schema):
    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, max_length=50)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = None


class EndpointOut(Schema):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str
    disabled_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)


class EndpointCreatedOut(Schema):
    endpoint: EndpointOut
    secret: str = Field(..., description="The signing secret (`whsec_…`); shown only now")


class SecretOut(Schema):
    secret: str


class AttemptOut(Schema):
    number: int
    sent_at: datetime
    duration_ms: int
    request_headers: dict[str, str]
    request_body: str
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str
    error: str


class DeliveryOut(Schema):
    id: int
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    replay_of: int | None
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_endpoint_id(obj: Any) -> str:
        return str(obj.endpoint_id)

    @staticmethod
    def resolve_event_id(obj: Any) -> str:
        return obj.event.public_id

    @staticmethod
    def resolve_event_type(obj: Any) -> str:
        return obj.event.type

    @staticmethod
    def resolve_replay_of(obj: Any) -> int | None:
        return obj.replay_of_id

    @staticmethod
    def resolve_attempt_log(obj: Any) -> list[Any]:
        return list(obj.attempt_log.all())


class EventTypesOut(Schema):
    event_types: list[str]
