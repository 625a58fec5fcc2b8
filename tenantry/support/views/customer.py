"""The customer's side in the dashboard: the team's tickets, a new ticket, one ticket's
conversation (never its internal notes), replying, resolving, downloading attachments."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.support import selectors, services
from tenantry.support.api import attachment_response
from tenantry.support.models import Category, Priority, TicketStatus
from tenantry.support.policy import support_conf, uploads_from_files


class TicketForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=Category.choices)
    priority = forms.ChoiceField(label=gettext_lazy("Priority"), choices=[("", gettext_lazy("Default")),
                                                                           *Priority.choices], required=False)
    body = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea, max_length=50_000)


class ReplyForm(forms.Form):
    body = forms.CharField(label=gettext_lazy("Your reply"), widget=forms.Textarea, max_length=50_000)


def _form_error(form: forms.Form, exc: ApplicationError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


@with_team("support.view")
def tickets(request: HttpRequest, access: Access) -> HttpResponse:
    filters = {name: request.GET.get(name, "") for name in ("q", "status")}
    if filters["status"] not in TicketStatus.values:
        filters["status"] = ""
    page = Paginator(selectors.ticket_list(team=access.team, **filters), 25).get_page(request.GET.get("page"))
    return render(request, "support/tickets.html", {
        "access": access, "nav": "support", "page": page, "filters": filters, "statuses": TicketStatus.choices,
        "stats": selectors.ticket_stats(access.team), "can_create": access.allows("support.create")})


@with_team("support.create")
def ticket_new(request: HttpRequest, access: Access) -> HttpResponse:
    form = TicketForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.ticket_open(
                team=access.team, user=access.user, actor=access.actor, subject=data["subject"], body=data["body"],
                category=data["category"], priority=data["priority"] or None,
                attachments=uploads_from_files(request.FILES.getlist("attachments")))
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Ticket #%(number)s opened. We will answer by email and here.")
                             % {"number": ticket.number})
            return redirect("support:ticket", team_slug=access.team.slug, ticket_id=ticket.pk)
    conf = support_conf()
    return render(request, "support/ticket_new.html", {
        "access": access, "nav": "support", "form": form, "allowed": conf["ALLOWED_EXTENSIONS"],
        "max_mb": conf["MAX_ATTACHMENT_BYTES"] // (1024 * 1024)})


@with_team("support.view")
def ticket(request: HttpRequest, access: Access, ticket_id: str) -> HttpResponse:
    found = selectors.ticket_get(team=access.team, ticket_id=ticket_id)
    form = ReplyForm(request.POST or None)
    if request.method == "POST":
        access.require("support.create")
        if form.is_valid():
            try:
                services.ticket_reply(ticket=found, user=access.user, actor=access.actor,
                                      body=form.cleaned_data["body"], staff=False,
                                      attachments=uploads_from_files(request.FILES.getlist("attachments")))
            except ApplicationError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Your reply was added."))
                return redirect("support:ticket", team_slug=access.team.slug, ticket_id=found.pk)
    return render(request, "support/ticket.html", {
        "access": access, "nav": "support", "ticket": found, "form": form,
        "thread": selectors.customer_messages(found), "can_reply": access.allows("support.create")})


@require_POST
@with_team("support.create")
def ticket_status(request: HttpRequest, access: Access, ticket_id: str) -> HttpResponse:
    found = selectors.ticket_get(team=access.team, ticket_id=ticket_id)
    try:
        services.ticket_set_status(ticket=found, status=request.POST.get("status", ""), actor=access.actor,
                                   staff=False)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The ticket is now %(status)s.") % {"status": found.get_status_display()})
    return redirect("support:ticket", team_slug=access.team.slug, ticket_id=found.pk)


@with_team("support.view")
def attachment(request: HttpRequest, access: Access, ticket_id: str, attachment_id: str) -> FileResponse:
    return attachment_response(selectors.customer_attachment(team=access.team, ticket_id=ticket_id,
                                                             attachment_id=attachment_id))
