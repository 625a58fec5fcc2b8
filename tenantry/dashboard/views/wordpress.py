"""The WordPress site an automation instance (n8n) publishes to: one of the team's WordPress
instances, or a site elsewhere with an application password (checked before it is saved, never
shown back)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from tenantry.accounts.access import Access
from tenantry.automations import selectors as automation_selectors
from tenantry.automations.wordpress import get_credential_kind, wordpress_choose
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.instances import selectors


@with_team("instance.credentials")
def wordpress_site(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    if get_credential_kind(instance) is None:
        raise Http404("This app does not publish to WordPress")
    sites = selectors.instance_list(team=access.team).filter(app="wordpress", provisioned_at__isnull=False)
    form = {"source": "instance", "wordpress_instance": "", "url": "", "username": ""}
    if request.method == "POST":
        form = {key: request.POST.get(key, "").strip() for key in form}
        chosen = {"wordpress_instance": form["wordpress_instance"]} if form["source"] == "instance" else {
            "url": form["url"], "username": form["username"], "app_password": request.POST.get("app_password", "")}
        try:
            wordpress_choose(instance=instance, actor=access.actor, **chosen)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(name)s now publishes to this WordPress site.") % {"name": instance.slug})
            return redirect("dashboard:instance_wordpress", team_slug=access.team.slug, ref=instance.slug)
    return render(request, "dashboard/instance_wordpress.html", {
        "access": access, "instance": instance, "sites": sites, "form": form,
        "connection": automation_selectors.wordpress_connection_get(instance=instance)})
