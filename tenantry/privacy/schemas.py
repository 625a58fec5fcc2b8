from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class AuditEventOut(Schema):
    id: int
    created_at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    team_id: str | None
    ip: str | None
    user_agent: str
    changes: dict[str, Any]
    data: dict[str, Any]
    anonymised: bool

    @staticmethod
    def resolve_team_id(obj: Any) -> str | None:
        return str(obj.team_id) if obj.team_id else None

    @staticmethod
    def resolve_anonymised(obj: Any) -> bool:
        return obj.anonymised_at is not None


class AuditFilterIn(Schema):
    action: str = Field("", max_length=100, description="An action (`instance.create`) or a prefix ending "
                        "with a dot (`instance.`)")
    actor: str = Field("", max_length=200, description="Part of the actor (`user:ana@`, `api-key:`)")
    target_type: str = Field("", max_length=100)
    target_id: str = Field("", max_length=64)
    since: datetime | None = None
    until: datetime | None = None
