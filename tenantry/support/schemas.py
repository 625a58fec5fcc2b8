from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from tenantry.support.models import MessageKind


class TicketIn(Schema):
    subject: str = Field(..., max_length=200)
    body: str = Field(..., max_length=50_000)
    category: str = Field("technical", description="technical, billing, account or other")
    priority: str | None = Field(None, description="low, normal, high or urgent; default: high on plans with "
                                 "priority support, else normal")


class ReplyIn(Schema):
    body: str = Field(..., max_length=50_000)


class StatusIn(Schema):
    status: str = Field(..., description="resolved, closed, or open (reopen a resolved ticket)")


class AttachmentOut(Schema):
    id: str
    filename: str
    content_type: str
    size: int
    url: str

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_url(obj: Any) -> str:
        return f"/api/v1/tickets/{obj.message.ticket_id}/attachments/{obj.id}"


class MessageOut(Schema):
    id: str
    author: str = Field(..., description='"support" for support\'s replies, else the customer\'s email')
    from_support: bool
    body: str = Field(..., description="Plain text, as written (render it escaped)")
    via: str
    created_at: datetime
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_author(obj: Any) -> str:
        if obj.kind == MessageKind.STAFF:
            return "support"
        return obj.author.email if obj.author else ""

    @staticmethod
    def resolve_from_support(obj: Any) -> bool:
        return obj.kind == MessageKind.STAFF

    @staticmethod
    def resolve_attachments(obj: Any) -> list:
        return list(obj.attachments.all())


class TicketOut(Schema):
    id: str
    number: int
    subject: str
    category: str
    priority: str
    status: str
    requester: str | None
    assigned: bool
    created_at: datetime
    last_activity_at: datetime | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla_breached: bool

    @staticmethod
    def resolve_id(obj: Any) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_requester(obj: Any) -> str | None:
        return obj.requester.email if obj.requester_id else None

    @staticmethod
    def resolve_assigned(obj: Any) -> bool:
        return obj.assignee_id is not None


class TicketDetailOut(TicketOut):
    messages: list[MessageOut] = Field(..., description="The conversation (support's internal notes never appear)")

    @staticmethod
    def resolve_messages(obj: Any) -> list:
        from tenantry.support.selectors import customer_messages

        return list(customer_messages(obj))


class StatsOut(Schema):
    open_by_status: dict[str, int]
    open_by_priority: dict[str, int]
    open_total: int
    sla_breached: int
    resolved_total: int
    avg_first_response_minutes: float | None
    avg_resolution_minutes: float | None
