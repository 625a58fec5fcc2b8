"""An instance's custom domains: add one (and see the DNS records to create), verify it, remove
it. The same services as the API (tenantry.routing.services)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.instances import selectors as instance_selectors
from tenantry.routing import selectors, services
from tenantry.routing.presenters import domain_view


def _back(access: Access, ref: str) -> HttpResponse:
    return redirect("dashboard:instance_domains", team_slug=access.team.slug, ref=ref)


@with_team("instance.view")
def domains(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    if request.method == "POST":
        if not access.allows("instance.domains"):
            messages.error(request, _("Only the team's owners and admins manage domains."))
            return _back(access, instance.slug)
        try:
            row = services.domain_add(instance=instance, domain=request.POST.get("domain", ""), actor=access.actor)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Create the two DNS records below for %(domain)s, then verify.")
                             % {"domain": row.domain})
        return _back(access, instance.slug)
    rows = [domain_view(row) for row in selectors.domain_list(team=access.team, instance=instance)]
    return render(request, "dashboard/instance_domains.html", {
        "access": access, "instance": instance, "domains": rows,
        "can_manage": access.allows("instance.domains"),
    })


@require_POST
@with_team("instance.domains")
def domain_action(request: HttpRequest, access: Access, ref: str, domain: str, name: str) -> HttpResponse:
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    row = selectors.domain_get(team=access.team, instance=instance, domain=domain)
    try:
        if name == "verify":
            services.domain_verify(custom_domain=row, actor=access.actor)
            messages.success(request, _("%(domain)s is verified: it now reaches %(slug)s.")
                             % {"domain": row.domain, "slug": instance.slug})
        elif name == "remove":
            services.domain_remove(custom_domain=row, actor=access.actor)
            messages.success(request, _("%(domain)s is removed.") % {"domain": row.domain})
        else:
            messages.error(request, _("That action is not available."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(access, instance.slug)
