"""The event catalog: every event type Tenantry emits, named once, with the payload it carries.

Services emit these (tenantry.events.services.emit) when their transaction commits; the
notification centre, outbound webhooks and the audit trail read the one stream (see
tenantry/events/dispatch.py). A payload is validated against its schema when it is emitted, so a
webhook receiver can rely on the documented fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    # Extra fields are allowed (a payload may grow), but the documented ones must be there.
    model_config = ConfigDict(extra="allow")


class InstancePayload(Payload):
    instance_id: str
    slug: str
    app: str
    status: str
    url: str


class InstanceFailedPayload(InstancePayload):
    error_code: str = ""
    error_message: str = ""


class OperationPayload(Payload):
    operation_id: str
    kind: str
    instance_id: str
    slug: str
    status: str
    error_code: str = ""
    error_message: str = ""


class InvoicePayload(Payload):
    invoice_id: str
    number: str
    status: str
    total_minor: int
    currency: str


class PaymentPayload(Payload):
    payment_id: str
    invoice_id: str | None
    status: str
    amount_minor: int
    currency: str
    provider: str
    failure_message: str = ""


class UsageThresholdPayload(Payload):
    meter: str
    used: float
    limit: float
    percent: int


class BackupPayload(Payload):
    backup_id: str
    instance_id: str
    slug: str
    error_message: str = ""


class TicketPayload(Payload):
    ticket_id: str
    subject: str
    status: str


class ArticlesLimitPayload(Payload):
    instance_id: str
    slug: str
    workflow: str
    limit: int | None
    published: int
    until: str | None  # when the pause ends (ISO 8601, UTC); None once resumed


class ArticlesRunFailedPayload(Payload):
    instance_id: str
    slug: str
    execution_id: str
    reason: str
    node: str = ""


class WebhookEndpointPayload(Payload):
    endpoint_id: str
    url: str
    reason: str


EVENT_TYPES: dict[str, type[Payload]] = {
    "instance.created": InstancePayload,
    "instance.ready": InstancePayload,
    "instance.failed": InstanceFailedPayload,
    "instance.stopped": InstancePayload,
    "instance.started": InstancePayload,
    "instance.hibernated": InstancePayload,
    "instance.deleted": InstancePayload,
    "instance.suspended": InstancePayload,
    "operation.succeeded": OperationPayload,
    "operation.failed": OperationPayload,
    "invoice.finalized": InvoicePayload,
    "invoice.paid": InvoicePayload,
    "payment.succeeded": PaymentPayload,
    "payment.failed": PaymentPayload,
    "usage.threshold": UsageThresholdPayload,
    "backup.succeeded": BackupPayload,
    "backup.failed": BackupPayload,
    "ticket.created": TicketPayload,
    "ticket.replied": TicketPayload,  # support answered (the customer is emailed)
    "ticket.customer_replied": TicketPayload,  # the customer wrote (dashboard, API or email)
    "ticket.status_changed": TicketPayload,
    # The SEO pipeline (tenantry/articles): the weekly articles limit paused / resumed the
    # publishing workflow; a publishing run failed (its reason, secrets removed).
    "articles.paused": ArticlesLimitPayload,
    "articles.resumed": ArticlesLimitPayload,
    "articles.run_failed": ArticlesRunFailedPayload,
    # About the team's own integration; never sent to webhooks (the endpoint may be the problem).
    "webhook_endpoint.disabled": WebhookEndpointPayload,
}

# Events that only the team's people are told about, never its webhook endpoints.
INTERNAL_EVENT_TYPES = frozenset({"webhook_endpoint.disabled"})
WEBHOOK_EVENT_TYPES = sorted(set(EVENT_TYPES) - INTERNAL_EVENT_TYPES)


class UnknownEventType(ValueError):
    pass


def validate_payload(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    schema = EVENT_TYPES.get(event_type)
    if schema is None:
        raise UnknownEventType(f"{event_type!r} is not in the event catalog")
    return schema.model_validate(data).model_dump(mode="json")


def is_valid_filter(pattern: str) -> bool:
    """`instance.ready`, `instance.*` or `*`: a filter that names at least one event type."""
    return any(matches(pattern, event_type) for event_type in WEBHOOK_EVENT_TYPES)


def matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def matches_any(patterns: list[str], event_type: str) -> bool:
    return any(matches(p, event_type) for p in patterns)
