"""The operators' support queue (staff only): filters and search, statistics, one ticket with
everything (internal notes too), reply, note, assign, change status."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.models import User
from tenantry.core.errors import ApplicationError, NotFound
from tenantry.dashboard.context import signed_in_user
from tenantry.support import selectors, services
from tenantry.support.api import attachment_response
from tenantry.support.models import Category, Priority, Ticket, TicketStatus
from tenantry.support.policy import allowed_next, uploads_from_files

_FILTERS = ("q", "status", "priority", "category", "assignee", "team")


def _ticket(ticket_id: str) -> Ticket:
    try:
        return selectors.staff_ticket(ticket_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@staff_member_required
def queue(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "").strip() for name in _FILTERS}
    breached = request.GET.get("breached") == "1"
    try:
        qs = selectors.staff_queue(**filters, breached=breached, user=signed_in_user(request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        qs = selectors.staff_queue(user=signed_in_user(request))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "support/operator_queue.html", {
        "nav": "operator_support", "page": page, "filters": filters, "breached": breached,
        "stats": selectors.ticket_stats(), "statuses": TicketStatus.choices, "priorities": Priority.choices,
        "categories": Category.choices, "staff": selectors.staff_users()})


@staff_member_required
def ticket(request: HttpRequest, ticket_id: str) -> HttpResponse:
    found = _ticket(ticket_id)
    return render(request, "support/operator_ticket.html", {
        "nav": "operator_support", "ticket": found, "thread": selectors.staff_messages(found),
        "staff": selectors.staff_users(), "next_statuses": [(s, TicketStatus(s).label) for s in
                                                            allowed_next(found.status)]})


@require_POST
@staff_member_required
def ticket_action(request: HttpRequest, ticket_id: str, action: str) -> HttpResponse:
    found = _ticket(ticket_id)
    user = signed_in_user(request)
    files = request.FILES.getlist("attachments")
    try:
        if action == "reply":
            services.ticket_reply(ticket=found, user=user, actor=f"user:{user.email}",
                                  body=request.POST.get("body", ""), staff=True, attachments=uploads_from_files(files),
                                  status=request.POST.get("status") or None)
            messages.success(request, _("Reply sent to the customer."))
        elif action == "note":
            services.ticket_note(ticket=found, user=user, body=request.POST.get("body", ""),
                                 attachments=uploads_from_files(files))
            messages.success(request, _("Internal note added."))
        elif action == "assign":
            email = request.POST.get("assignee", "")
            assignee = User.objects.filter(email=email).first() if email else None
            if email and assignee is None:
                raise NotFound(_("No such staff member."))
            services.ticket_assign(ticket=found, actor=user, assignee=assignee)
            messages.success(request, _("Assignment saved."))
        elif action == "status":
            services.ticket_set_status(ticket=found, status=request.POST.get("status", ""),
                                       actor=f"user:{user.email}", staff=True)
            messages.success(request, _("Status changed."))
        else:
            raise Http404("No such action")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("support:operator_ticket", ticket_id=found.pk)


@staff_member_required
def attachment(request: HttpRequest, attachment_id: str) -> FileResponse:
    try:
        return attachment_response(selectors.staff_attachment(attachment_id))
    except NotFound as exc:
        raise Http404(exc.message) from exc
