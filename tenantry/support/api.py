"""Support tickets over REST, for the API key's team: another team's ticket is a 404 and
internal notes never appear. Creating and replying take multipart/form-data (fields plus
`attachments` files)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from ninja import File, Form, Router, Status, UploadedFile
from ninja.pagination import paginate

from tenantry.accounts.access import Access
from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.instances.schemas import ErrorOut
from tenantry.support import selectors, services
from tenantry.support.models import Ticket, TicketAttachment
from tenantry.support.policy import uploads_from_files
from tenantry.support.schemas import ReplyIn, StatsOut, StatusIn, TicketDetailOut, TicketIn, TicketOut
from tenantry.support.storage import attachment_path

router = Router(tags=["support"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _detail(access: Access, ticket: Ticket) -> Ticket:
    return selectors.ticket_get(team=access.team, ticket_id=ticket.pk)  # fresh: status and times changed



@router.get("/tickets", response={200: list[TicketOut], **ERRORS},
            summary="The team's tickets, latest activity first (paginated; search and filters)")
@paginate(BoundedPagination)
def list_tickets(request: HttpRequest, q: str = "", status: str = "", priority: str = "",
                 category: str = "") -> QuerySet[Ticket]:
    """`q` searches subjects, messages and `#number`."""
    access = access_of(request)
    access.require("support.view")
    return selectors.ticket_list(team=access.team, q=q, status=status, priority=priority, category=category)


@router.post("/tickets", response={201: TicketDetailOut, **ERRORS}, summary="Open a ticket (multipart form)")
def open_ticket(request: HttpRequest, payload: Form[TicketIn],
                attachments: File[list[UploadedFile]] = None) -> Status:  # type: ignore[assignment]
    access = access_of(request)
    access.require("support.create")
    ticket = services.ticket_open(team=access.team, user=access.user, actor=access.actor, subject=payload.subject,
                                  body=payload.body, category=payload.category, priority=payload.priority,
                                  attachments=uploads_from_files(attachments or []), via="api")
    return Status(201, _detail(access, ticket))


@router.get("/tickets/stats", response={200: StatsOut, **ERRORS},
            summary="Open tickets by status and priority, average first response and resolution times")
def ticket_stats(request: HttpRequest) -> dict:
    access = access_of(request)
    access.require("support.view")
    return selectors.ticket_stats(access.team)


@router.get("/tickets/{ticket_id}", response={200: TicketDetailOut, **ERRORS}, summary="A ticket with its messages")
def show_ticket(request: HttpRequest, ticket_id: str) -> Ticket:
    access = access_of(request)
    access.require("support.view")
    return _detail(access, selectors.ticket_get(team=access.team, ticket_id=ticket_id))


@router.post("/tickets/{ticket_id}/messages", response={201: TicketDetailOut, **ERRORS},
             summary="Reply in a ticket (multipart form; reopens it if it was waiting or resolved)")
def reply_ticket(request: HttpRequest, ticket_id: str, payload: Form[ReplyIn],
                 attachments: File[list[UploadedFile]] = None) -> Status:  # type: ignore[assignment]
    access = access_of(request)
    access.require("support.create")
    ticket = selectors.ticket_get(team=access.team, ticket_id=ticket_id)
    services.ticket_reply(ticket=ticket, user=access.user, actor=access.actor, body=payload.body, staff=False,
                          attachments=uploads_from_files(attachments or []), via="api")
    return Status(201, _detail(access, ticket))


@router.post("/tickets/{ticket_id}/status", response={200: TicketDetailOut, **ERRORS},
             summary="Mark resolved, close, or reopen a resolved ticket")
def set_status(request: HttpRequest, ticket_id: str, payload: StatusIn) -> Ticket:
    access = access_of(request)
    access.require("support.create")
    ticket = selectors.ticket_get(team=access.team, ticket_id=ticket_id)
    services.ticket_set_status(ticket=ticket, status=payload.status, actor=access.actor, staff=False)
    return _detail(access, ticket)


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}", response={200: None, **ERRORS},
            summary="Download an attachment")
def download_attachment(request: HttpRequest, ticket_id: str, attachment_id: str) -> FileResponse:
    access = access_of(request)
    access.require("support.view")
    attachment = selectors.customer_attachment(team=access.team, ticket_id=ticket_id, attachment_id=attachment_id)
    return attachment_response(attachment)


def attachment_response(attachment: TicketAttachment) -> FileResponse:
    """Always a download, never rendered by the browser on the control plane's origin."""
    response = FileResponse(attachment_path(attachment).open("rb"), as_attachment=True,
                            filename=attachment.filename, content_type=attachment.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
