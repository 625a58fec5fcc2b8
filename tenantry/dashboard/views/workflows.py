"""An automation instance's workflows and executions (live), its admin login shown once, the
customer's credentials inside the app, and rotation of Tenantry's own key."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.automations import selectors as automation_selectors
from tenantry.automations import services as automations
from tenantry.branding.selectors import current_brand
from tenantry.catalog.registry import get_app
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import with_team
from tenantry.instances import selectors, services
from tenantry.instances.secrets import instance_inputs

RECENT_EXECUTIONS = 15


def _back(access: Access, instance) -> HttpResponse:
    return redirect("dashboard:instance", team_slug=access.team.slug, ref=instance.slug)


@with_team("instance.view")
def panel(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    """The live workflows panel of the instance page (htmx polls it every few seconds)."""
    instance = selectors.instance_get(team=access.team, ref=ref)
    workflows, problem = [], ""
    try:
        workflows = automations.workflows_list(instance=instance)
        automations.executions_sync(instance=instance, workflows=workflows)
    except ApplicationError as exc:
        problem = exc.message
    names = {w.id: w.name for w in workflows}
    return render(request, "dashboard/_workflows.html", {
        "access": access, "instance": instance, "workflows": workflows, "problem": problem, "names": names,
        "executions": automation_selectors.execution_list(instance=instance)[:RECENT_EXECUTIONS],
        "this_month": automations.executions_this_month(instance=instance),
        "limit": automations.executions_limit(instance=instance),
        "can_operate": access.allows("instance.operate"),
    })


@require_POST
@with_team("instance.operate")
def workflow_action(request: HttpRequest, access: Access, ref: str, workflow_id: str, name: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        if name == "run":
            result = automations.workflow_run_now(instance=instance, workflow_id=workflow_id, actor=access.actor)
            messages.success(request, _("Started: %(how)s.") % {"how": result.how})
        elif name in ("activate", "deactivate"):
            automations.workflow_set_active(instance=instance, workflow_id=workflow_id, active=name == "activate",
                                            actor=access.actor)
        else:
            messages.error(request, _("That action is not available."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(access, instance)


@require_POST
@with_team("instance.credentials")
def open_app(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    """Sign the customer in to their app: a one-time link on the app's own address."""
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        return redirect(automations.admin_login_link(instance=instance, actor=access.actor))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back(access, instance)


@require_POST
@with_team("instance.credentials")
def admin_login(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        login = automations.admin_credentials_reveal(instance=instance, actor=access.actor)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back(access, instance)
    response = render(request, "dashboard/admin_login.html", {"access": access, "instance": instance, "login": login})
    response["Cache-Control"] = "no-store"  # shown once: not in the browser's cache either
    return response


@with_team("instance.credentials")
def settings(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    """The customer's inputs (external credentials): secret ones are never shown back, only replaced."""
    instance = selectors.instance_get(team=access.team, ref=ref)
    spec = get_app(instance.app)
    current = instance_inputs(instance)
    if request.method == "POST":
        new = {i.name: request.POST.get(f"input_{i.name}", "").strip() for i in spec.inputs}
        # An empty secret field means "keep it"; an empty plain field too (nothing to rotate).
        changed = {name: value for name, value in new.items() if value and value != current.get(name)}
        try:
            services.instance_update_inputs(instance=instance, inputs=changed, actor=access.actor)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Updating %(names)s inside the app.") % {"names": ", ".join(sorted(changed))})
            return _back(access, instance)
    fields = [{"spec": i, "value": "" if i.secret else current.get(i.name, ""), "is_set": i.name in current}
              for i in spec.inputs]
    return render(request, "dashboard/instance_settings.html", {"access": access, "instance": instance,
                                                                "fields": fields})


@require_POST
@with_team("instance.credentials")
def rotate(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    instance = selectors.instance_get(team=access.team, ref=ref)
    try:
        services.instance_rotate_credentials(instance=instance, actor=access.actor)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Replacing %(product)s's key for %(name)s.")
                         % {"name": instance.slug, "product": current_brand().name})
    return _back(access, instance)
