"""A team's outbound webhook endpoints: register, change, delete; the delivery log and replays."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.events.catalog import WEBHOOK_EVENT_TYPES
from tenantry.webhooks import selectors, services
from tenantry.webhooks.models import DeliveryStatus


class EndpointForm(forms.Form):
    url = forms.CharField(label=gettext_lazy("URL"), max_length=2000)
    event_types = forms.CharField(label=gettext_lazy("Event types"), max_length=2000, initial="*",
                                  help_text=gettext_lazy("Comma-separated; wildcards like instance.* or *"))
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)

    def types(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["event_types"].split(",") if t.strip()]


def _form_error(form: forms.Form, exc: ApplicationError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in ("url", "event_types", "description") else None, exc.message)


@with_team("webhook.view")
def webhooks(request: HttpRequest, access: Access) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    secret = None
    if request.method == "POST":
        access.require("webhook.manage")
        if form.is_valid():
            try:
                endpoint, secret = services.endpoint_create(team=access.team, url=form.cleaned_data["url"],
                                                            event_types=form.types(), actor=access.actor,
                                                            description=form.cleaned_data["description"])
            except ApplicationError as exc:
                _form_error(form, exc)
            else:
                form = EndpointForm()
                messages.success(request, _("Endpoint added: %(url)s") % {"url": endpoint.url})
    return render(request, "dashboard/webhooks.html", {
        "access": access, "nav": "webhooks", "form": form, "secret": secret,
        "endpoints": selectors.endpoint_list(team=access.team), "event_types": WEBHOOK_EVENT_TYPES,
        "can_manage": access.allows("webhook.manage")})


@with_team("webhook.view")
def endpoint_detail(request: HttpRequest, access: Access, endpoint_id: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id)
    status = request.GET.get("status") if request.GET.get("status") in DeliveryStatus.values else None
    page = Paginator(selectors.delivery_list(team=access.team, endpoint=endpoint, status=status), 25).get_page(
        request.GET.get("page"))
    return render(request, "dashboard/webhook_endpoint.html", {
        "access": access, "nav": "webhooks", "endpoint": endpoint, "page": page, "status": status,
        "can_manage": access.allows("webhook.manage")})


@require_POST
@with_team("webhook.manage")
def endpoint_action(request: HttpRequest, access: Access, endpoint_id: str, action: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id)
    try:
        if action == "delete":
            services.endpoint_delete(endpoint=endpoint, actor=access.actor)
            messages.success(request, _("Endpoint deleted."))
            return redirect("dashboard:webhooks", team_slug=access.team.slug)
        if action in ("enable", "disable"):
            services.endpoint_update(endpoint=endpoint, actor=access.actor, enabled=action == "enable")
        elif action == "rotate":
            secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=access.actor)
            messages.success(request, _("New signing secret (copy it now, it will not be shown again): %(s)s")
                             % {"s": secret})
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("dashboard:webhook_endpoint", team_slug=access.team.slug, endpoint_id=endpoint.pk)


@require_POST
@with_team("webhook.manage")
def delivery_replay(request: HttpRequest, access: Access, delivery_id: int) -> HttpResponse:
    delivery = selectors.delivery_get(team=access.team, delivery_id=delivery_id)
    try:
        services.delivery_replay(delivery=delivery, actor=access.actor)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The event will be sent again."))
    return redirect("dashboard:webhook_endpoint", team_slug=access.team.slug, endpoint_id=delivery.endpoint_id)
