"""Reads of tickets. Customers read through their team (another team's ticket looks exactly
like a missing one) and never see internal notes; staff read everything."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet

from tenantry.accounts.models import Membership, Role, Team, User
from tenantry.core.errors import NotFound, ValidationError
from tenantry.support.models import (
    Category,
    MessageKind,
    Priority,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatus,
)

CUSTOMER_KINDS = (MessageKind.CUSTOMER, MessageKind.STAFF)


class TicketNotFound(NotFound):
    code = "ticket_not_found"


def _filtered(qs: QuerySet[Ticket], *, q: str = "", status: str = "", priority: str = "", category: str = "",
              customer_view: bool) -> QuerySet[Ticket]:
    for name, value, allowed in (("status", status, TicketStatus.values), ("priority", priority, Priority.values),
                                 ("category", category, Category.values)):
        if value and value not in allowed:
            raise ValidationError(f"{name} must be one of {', '.join(allowed)}.", details={"field": name})
    if status:
        qs = qs.filter(status=status)
    if priority:
        qs = qs.filter(priority=priority)
    if category:
        qs = qs.filter(category=category)
    q = q.strip()[:200]
    if q:
        kinds = CUSTOMER_KINDS if customer_view else MessageKind.values
        match = Q(subject__icontains=q) | Q(pk__in=TicketMessage.objects.filter(kind__in=kinds, body__icontains=q)
                                            .values("ticket_id"))
        if q.lstrip("#").isdigit():
            match |= Q(number=int(q.lstrip("#")))
        qs = qs.filter(match)
    return qs


def ticket_list(*, team: Team, q: str = "", status: str = "", priority: str = "",
                category: str = "") -> QuerySet[Ticket]:
    return _filtered(Ticket.objects.filter(team=team).select_related("requester", "assignee"), q=q, status=status,
                     priority=priority, category=category, customer_view=True)


def _parse_id(ticket_id: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(ticket_id))
    except ValueError:
        return None


def ticket_get(*, team: Team, ticket_id: Any) -> Ticket:
    pk = _parse_id(ticket_id)
    ticket = Ticket.objects.filter(team=team, pk=pk).select_related("team", "requester", "assignee").first() \
        if pk else None
    if ticket is None:
        raise TicketNotFound(f"No ticket {ticket_id}.")
    return ticket


def customer_messages(ticket: Ticket) -> QuerySet[TicketMessage]:
    """What the customer sees: never the internal notes."""
    return (ticket.messages.filter(kind__in=CUSTOMER_KINDS).select_related("author")
            .prefetch_related("attachments"))


def customer_attachment(*, team: Team, ticket_id: Any, attachment_id: Any) -> TicketAttachment:
    ticket = ticket_get(team=team, ticket_id=ticket_id)
    pk = _parse_id(attachment_id)
    attachment = TicketAttachment.objects.filter(pk=pk, message__ticket=ticket,
                                                 message__kind__in=CUSTOMER_KINDS).first() if pk else None
    if attachment is None:
        raise NotFound("No such attachment.", code="attachment_not_found")
    return attachment


# --- staff -------------------------------------------------------------------------------------------
def staff_queue(*, q: str = "", status: str = "", priority: str = "", category: str = "", assignee: str = "",
                breached: bool = False, user: User | None = None, team: str = "") -> QuerySet[Ticket]:
    """The operators' queue: unfinished tickets first, urgent first, oldest activity first.
    `assignee`: "me", "none" or a staff member's email."""
    qs = Ticket.objects.select_related("team", "requester", "assignee")
    qs = _filtered(qs, q=q, status=status, priority=priority, category=category, customer_view=False)
    if not status:
        qs = qs.exclude(status=TicketStatus.CLOSED)
    if assignee == "me" and user is not None:
        qs = qs.filter(assignee=user)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee__email=assignee)
    if breached:
        qs = qs.filter(Q(first_response_breached=True) | Q(resolution_breached=True))
    if team:
        qs = qs.filter(team__slug=team)
    order = {p: i for i, p in enumerate([Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW])}
    from django.db.models import Case, IntegerField, Value, When

    rank = Case(*[When(priority=p, then=Value(i)) for p, i in order.items()], output_field=IntegerField())
    return qs.annotate(rank=rank).order_by("rank", "last_activity_at", "number")


def staff_ticket(ticket_id: Any) -> Ticket:
    pk = _parse_id(ticket_id)
    ticket = Ticket.objects.filter(pk=pk).select_related("team", "requester", "assignee").first() if pk else None
    if ticket is None:
        raise TicketNotFound(f"No ticket {ticket_id}.")
    return ticket


def staff_messages(ticket: Ticket) -> QuerySet[TicketMessage]:
    return ticket.messages.select_related("author").prefetch_related("attachments")


def staff_attachment(attachment_id: Any) -> TicketAttachment:
    pk = _parse_id(attachment_id)
    attachment = TicketAttachment.objects.filter(pk=pk).first() if pk else None
    if attachment is None:
        raise NotFound("No such attachment.", code="attachment_not_found")
    return attachment


def staff_users() -> QuerySet[User]:
    return User.objects.filter(is_staff=True, is_active=True).order_by("email")


# --- statistics ----------------------------------------------------------------------------------------
def _minutes(value: timedelta | None) -> float | None:
    return round(value.total_seconds() / 60, 1) if value is not None else None


def ticket_stats(team: Team | None = None) -> dict[str, Any]:
    """Open tickets (not resolved or closed) by status and by priority, SLA breaches, and the
    average first response and resolution times in minutes (None until there is one)."""
    qs = Ticket.objects.all() if team is None else Ticket.objects.filter(team=team)
    live = qs.exclude(status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED])
    by_status = dict(live.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    by_priority = dict(live.values_list("priority").annotate(n=Count("id")).values_list("priority", "n"))
    duration = DurationField()
    first = qs.filter(first_response_at__isnull=False).aggregate(
        avg=Avg(ExpressionWrapper(F("first_response_at") - F("created_at"), output_field=duration)))["avg"]
    resolution = qs.filter(resolved_at__isnull=False).aggregate(
        avg=Avg(ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=duration)))["avg"]
    return {
        "open_by_status": {s: by_status.get(s, 0) for s in TicketStatus.values
                           if s not in (TicketStatus.RESOLVED, TicketStatus.CLOSED)},
        "open_by_priority": {p: by_priority.get(p, 0) for p in Priority.values},
        "open_total": sum(by_status.values()),
        "sla_breached": live.filter(Q(first_response_breached=True) | Q(resolution_breached=True)).count(),
        "resolved_total": qs.filter(resolved_at__isnull=False).count(),
        "avg_first_response_minutes": _minutes(first),
        "avg_resolution_minutes": _minutes(resolution),
    }


def ticket_recipients(*, team: Team, ticket_id: Any) -> list[User]:
    """Who is told about a staff reply: whoever opened the ticket and every customer who wrote
    in it (still active members), else the team's owners and admins."""
    pk = _parse_id(ticket_id)
    ticket = Ticket.objects.filter(team=team, pk=pk).first() if pk else None
    if ticket is None:
        return []
    members = Membership.objects.filter(team=team, user__is_active=True)
    authors = set(ticket.messages.filter(kind=MessageKind.CUSTOMER).values_list("author_id", flat=True))
    if ticket.requester_id:
        authors.add(ticket.requester_id)
    people = [m.user for m in members.filter(user_id__in=authors).select_related("user")]
    if not people:
        people = [m.user for m in members.filter(role__in=[Role.OWNER, Role.ADMIN]).select_related("user")]
    return sorted(people, key=lambda u: u.email)
