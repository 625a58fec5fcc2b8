"""Writes of the support desk: open a ticket, reply, note, assign, change status, the SLA sweep.
Every write is one transaction that records an audit row and emits `ticket.*` events; the
notification centre emails replies to the customer, support's own mail goes to staff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from tenantry.accounts.models import Team, User
from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, ValidationError
from tenantry.events.services import emit
from tenantry.support import storage
from tenantry.support.models import Category, MessageKind, Priority, Ticket, TicketMessage, TicketStatus
from tenantry.support.policy import CUSTOMER_STATUSES, TRANSITIONS, Upload, default_priority, team_sla

T = TypeVar("T")
MAX_BODY = 50_000


class TicketClosed(Conflict):
    code = "ticket_closed"


class InvalidTransition(Conflict):
    code = "invalid_status_transition"


def _with_files(write: Callable[[list[Path]], T]) -> T:
    """Run a write that stores files; if it fails, the files it wrote go too."""
    written: list[Path] = []
    try:
        with transaction.atomic():
            return write(written)
    except BaseException:
        storage.discard(written)
        raise


def _clean_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError("Write a message.", code="invalid_input", details={"field": "body"})
    if len(body) > MAX_BODY:
        raise ValidationError(f"A message holds at most {MAX_BODY} characters.", details={"field": "body"})
    return body


def _payload(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    return {"ticket_id": str(ticket.pk), "number": ticket.number, "subject": ticket.subject,
            "status": ticket.status, "priority": ticket.priority, "category": ticket.category, **extra}


def _next_number() -> int:
    return (Ticket.objects.aggregate(n=Max("number"))["n"] or 0) + 1


def ticket_open(*, team: Team, user: User | None, actor: str, subject: str, body: str,
                category: str = Category.TECHNICAL, priority: str | None = None,
                attachments: list[Upload] | None = None, via: str = "web") -> Ticket:
    """A customer's new ticket with its first message. Priority defaults to high on plans with
    priority support; due times come from the plan's SLA."""
    subject = " ".join((subject or "").split())
    if not subject:
        raise ValidationError("Give the ticket a subject.", details={"field": "subject"})
    if len(subject) > 200:
        raise ValidationError("The subject holds at most 200 characters.", details={"field": "subject"})
    if category not in Category.values:
        raise ValidationError(f"category must be one of {', '.join(Category.values)}.", details={"field": "category"})
    if priority is not None and priority not in Priority.values:
        raise ValidationError(f"priority must be one of {', '.join(Priority.values)}.", details={"field": "priority"})
    body = _clean_body(body)
    sla = team_sla(team)
    now = timezone.now()

    def write(written: list[Path]) -> Ticket:
        for attempt in range(5):  # two tickets opened at once may pick the same number
            try:
                with transaction.atomic():
                    ticket = Ticket.objects.create(
                        team=team, number=_next_number(), subject=subject, category=category,
                        priority=priority or default_priority(sla), requester=user, last_activity_at=now,
                        first_response_due=now + sla.first_response, resolution_due=now + sla.resolution)
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        message = TicketMessage.objects.create(ticket=ticket, kind=MessageKind.CUSTOMER, author=user, body=body,
                                               via=via)
        storage.store_attachments(message, attachments or [], written)
        audit_log(actor=actor, action="ticket.open", target=ticket,
                  data={"team": str(team.pk), "priority": ticket.priority, "category": category})
        emit("ticket.created", team=team, data=_payload(ticket, message_id=str(message.pk)))
        return ticket

    return _with_files(write)


def ticket_reply(*, ticket: Ticket, user: User | None, actor: str, body: str, staff: bool,
                 attachments: list[Upload] | None = None, via: str = "web", status: str | None = None,
                 email_message_id: str = "") -> TicketMessage:
    """A message the other side sees. A staff reply is the first response if none came yet and
    puts the ticket in `waiting_for_customer` (or `status`); a customer's reply reopens a
    ticket that was waiting or resolved. Nobody replies to a closed ticket."""
    body = _clean_body(body)
    if status is not None and status not in TicketStatus.values:
        raise ValidationError(f"status must be one of {', '.join(TicketStatus.values)}.", details={"field": "status"})

    def write(written: list[Path]) -> TicketMessage:
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status == TicketStatus.CLOSED:
            raise TicketClosed("This ticket is closed: open a new one.")
        if email_message_id and locked.messages.filter(email_message_id=email_message_id).exists():
            return locked.messages.get(email_message_id=email_message_id)  # the same email again
        now = timezone.now()
        message = TicketMessage.objects.create(ticket=locked, kind=MessageKind.STAFF if staff else MessageKind.CUSTOMER,
                                               author=user, body=body, via=via, email_message_id=email_message_id)
        storage.store_attachments(message, attachments or [], written)
        before = locked.status
        if staff:
            if locked.first_response_at is None:
                locked.first_response_at = now
            target = status or (TicketStatus.WAITING if not locked.is_finished else locked.status)
        else:
            target = TicketStatus.OPEN if locked.status in (TicketStatus.WAITING, TicketStatus.RESOLVED) \
                else locked.status
        if target != before:
            _transition(locked, target)
        locked.last_activity_at = now
        locked.save()
        audit_log(actor=actor, action="ticket.reply", target=locked,
                  data={"message": str(message.pk), "staff": staff, "via": via})
        emit("ticket.replied" if staff else "ticket.customer_replied", team=locked.team,
             data=_payload(locked, message_id=str(message.pk), via=via))
        if target != before:
            emit("ticket.status_changed", team=locked.team, data=_payload(locked, previous_status=before))
        if not staff:
            transaction.on_commit(lambda: _tell_staff(str(message.pk)))
        ticket.refresh_from_db()
        return message

    return _with_files(write)


def _tell_staff(message_id: str) -> None:
    from tenantry.support.tasks import staff_email_task

    staff_email_task(message_id)


def ticket_note(*, ticket: Ticket, user: User, body: str, attachments: list[Upload] | None = None) -> TicketMessage:
    """An internal note: staff only, never shown to the customer, never emailed, no event."""
    body = _clean_body(body)

    def write(written: list[Path]) -> TicketMessage:
        message = TicketMessage.objects.create(ticket=ticket, kind=MessageKind.NOTE, author=user, body=body)
        storage.store_attachments(message, attachments or [], written)
        audit_log(actor=f"user:{user.email}", action="ticket.note", target=ticket, data={"message": str(message.pk)})
        return message

    return _with_files(write)


@transaction.atomic
def ticket_assign(*, ticket: Ticket, actor: User, assignee: User | None) -> Ticket:
    """Give the ticket to a staff member (or to nobody). Taking an open ticket starts work on it."""
    if assignee is not None and not (assignee.is_staff and assignee.is_active):
        raise ValidationError("Tickets are assigned to staff members only.", code="invalid_assignee",
                              details={"field": "assignee"})
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    ticket.assignee = assignee
    before = ticket.status
    if assignee is not None and ticket.status == TicketStatus.OPEN:
        _transition(ticket, TicketStatus.IN_PROGRESS)
    ticket.save()
    audit_log(actor=f"user:{actor.email}", action="ticket.assign", target=ticket,
              data={"assignee": assignee.email if assignee else None})
    if ticket.status != before:
        emit("ticket.status_changed", team=ticket.team, data=_payload(ticket, previous_status=before))
    return ticket


def _transition(ticket: Ticket, status: str) -> None:
    if status not in TRANSITIONS[ticket.status]:
        raise InvalidTransition(f"A ticket that is {ticket.get_status_display()} cannot become "
                                f"{TicketStatus(status).label}.",
                                details={"from": ticket.status, "to": status})
    now = timezone.now()
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif status == TicketStatus.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None  # reopened: the resolution time counts again
    ticket.status = status


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str, actor: str, staff: bool) -> Ticket:
    """Move the ticket along TRANSITIONS; a customer may only resolve, close or reopen."""
    if status not in TicketStatus.values:
        raise ValidationError(f"status must be one of {', '.join(TicketStatus.values)}.", details={"field": "status"})
    if not staff and status not in CUSTOMER_STATUSES:
        raise InvalidTransition("You can mark the ticket resolved, close it or reopen it.",
                                details={"to": status})
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    before = ticket.status
    if status == before:
        return ticket
    _transition(ticket, status)
    ticket.last_activity_at = timezone.now()
    ticket.save()
    audit_log(actor=actor, action="ticket.status", target=ticket, data={"from": before, "to": status})
    emit("ticket.status_changed", team=ticket.team, data=_payload(ticket, previous_status=before))
    return ticket


def sla_sweep(now: datetime | None = None) -> list[Ticket]:
    """Flag the tickets whose first response or resolution is overdue (once each) and alert the
    operators about them. Returns the newly flagged tickets."""
    now = now or timezone.now()
    live = Ticket.objects.exclude(status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED])
    flagged: list[Ticket] = []
    with transaction.atomic():
        for ticket in live.select_for_update().filter(first_response_breached=False, first_response_at__isnull=True,
                                                      first_response_due__lt=now).select_related("team"):
            ticket.first_response_breached = True
            ticket.save(update_fields=["first_response_breached", "updated_at"])
            audit_log(actor="system", action="ticket.sla_breached", target=ticket, data={"kind": "first_response"})
            flagged.append(ticket)
        for ticket in live.select_for_update().filter(resolution_breached=False, resolution_due__lt=now
                                                      ).select_related("team"):
            ticket.resolution_breached = True
            ticket.save(update_fields=["resolution_breached", "updated_at"])
            audit_log(actor="system", action="ticket.sla_breached", target=ticket, data={"kind": "resolution"})
            flagged.append(ticket)
        if flagged:
            ids = sorted({str(t.pk) for t in flagged})
            transaction.on_commit(lambda: _alert_operators(ids))
    return flagged


def _alert_operators(ticket_ids: list[str]) -> None:
    from tenantry.support.tasks import sla_alert_task

    sla_alert_task(ticket_ids)
