from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class TeamOut(Schema):
    id: str
    name: str
    slug: str
    role: str | None = Field(None, description="The caller's role; null for an API key")
    created_at: datetime


class TeamIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)


class TeamDeletionOut(Schema):
    team: str
    purge_after: datetime


class MemberOut(Schema):
    id: str
    email: str
    name: str
    role: str
    joined_at: datetime

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_email(obj: Any) -> str:
        return str(obj.user.email)

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj.user.get_full_name())

    @staticmethod
    def resolve_joined_at(obj: Any) -> datetime:
        return obj.created_at


class RoleIn(Schema):
    role: str = Field(..., description="owner, admin, member or billing")


class InvitationIn(Schema):
    email: str = Field(..., max_length=254)
    role: str = Field("member", description="owner, admin, member or billing")


class InvitationOut(Schema):
    id: str
    email: str
    role: str
    expires_at: datetime
    created_at: datetime

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)


class ApiKeyIn(Schema):
    name: str = Field(..., max_length=100)
    scope: str = Field("write", description="read or write")
    billing: str = Field("", description="Billing rights, never implied: empty, `read` or `manage`")


class ApiKeyOut(Schema):
    id: str
    name: str
    prefix: str
    scope: str
    billing: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)


class ApiKeyCreatedOut(Schema):
    key: ApiKeyOut
    secret: str = Field(..., description="The key (`tn_…`); shown only now")
