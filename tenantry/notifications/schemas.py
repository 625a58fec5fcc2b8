from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class NotificationOut(Schema):
    id: str
    event_type: str
    title: str
    body: str
    url: str
    team: str | None
    read: bool
    created_at: datetime

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_team(obj: Any) -> str | None:
        return obj.team.slug if obj.team_id else None

    @staticmethod
    def resolve_read(obj: Any) -> bool:
        return obj.read_at is not None


class UnreadOut(Schema):
    unread: int


class MarkReadIn(Schema):
    ids: list[str] | None = Field(None, max_length=500, description="Omitted: mark all read")


class MarkedOut(Schema):
    marked: int


class PreferenceOut(Schema):
    event_type: str
    email_available: bool
    email: bool
    in_app: bool


class PreferenceIn(Schema):
    event_type: str = Field(..., max_length=64)
    email: bool = True
    in_app: bool = True
