"""The customer's instances: overview, create, detail with live progress, lifecycle actions."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.automations.wordpress import get_credential_kind
from tenantry.billing import selectors as billing_selectors
from tenantry.billing.entitlements import PLAN_CODES
from tenantry.catalog.registry import app_templates, get_catalog
from tenantry.core.errors import ApplicationError
from tenantry.core.links import safe_next
from tenantry.dashboard.context import with_team
from tenantry.dashboard.forms import InstanceCreateForm, InstanceDeleteForm
from tenantry.instances import selectors, services

ACTIONS = {
    "start": (services.instance_start, "instance.operate"),
    "stop": (services.instance_stop, "instance.operate"),
    "restart": (services.instance_restart, "instance.operate"),
    "hibernate": (services.instance_hibernate, "instance.operate"),
    "wake": (services.instance_wake, "instance.operate"),
}


def _form_error(form: InstanceCreateForm | InstanceDeleteForm, exc: ApplicationError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


@with_team("instance.view")
def overview(request: HttpRequest, access: Access) -> HttpResponse:
    instances = list(selectors.instance_list(team=access.team))
    subscription = billing_selectors.team_subscription(access.team)
    return render(request, "dashboard/overview.html", {
        "access": access, "instances": instances,
        "needs_plan": billing_selectors.team_needs_plan(access.team),
        "awaiting": subscription if subscription is not None and subscription.awaits_instance else None,
        "can_manage_billing": access.allows("billing.manage")})


@with_team("instance.create")
def create(request: HttpRequest, access: Access) -> HttpResponse:
    form = InstanceCreateForm(request.POST or None, initial={"app": request.GET.get("app", "hello")})
    plan_refused = False
    if request.method == "POST" and form.is_valid():
        app = form.cleaned_data["app"]
        spec = get_catalog()[app]
        # Each app's own options are named after it: only the chosen app's count.
        inputs = {i.name: request.POST.get(f"{app}__input__{i.name}", "") for i in spec.inputs}
        # An app with templates shows them as checkboxes: the ticked ones are the choice, even none.
        templates = request.POST.getlist(f"{app}__template") if app_templates(app) else None
        try:
            instance, _op = services.instance_create(team=access.team, slug=form.cleaned_data["slug"], app=app,
                                                     actor=access.actor, inputs=inputs, templates=templates)
        except ApplicationError as exc:
            _form_error(form, exc)
            plan_refused = exc.code in PLAN_CODES
        else:
            return redirect("dashboard:instance", team_slug=access.team.slug, ref=instance.slug)
    apps = [{"spec": spec, "templates": sorted(app_templates(spec.name))} for spec in get_catalog().values()]
    chosen_templates = set()
    for spec in get_catalog().values():
        ticked = request.POST.getlist(f"{spec.name}__template") if request.method == "POST" else spec.templates.default
        chosen_templates |= {f"{spec.name}:{name}" for name in ticked}
    return render(request, "dashboard/instance_create.html",
                  {"access": access, "form": form, "apps": apps, "chosen_templates": chosen_templates,
                   # The plan said no: those who may see the plans get a way to them.
                   "show_plans_link": plan_refused and access.allows("billing.view")})


def _detail_context(access: Access, ref: str) -> dict:
    instance = selectors.instance_get(team=access.team, ref=ref)
    operations = selectors.operation_list(team=access.team, instance=instance, limit=20)
    active = next((op for op in operations if op.is_active), None)
    spec = get_catalog().get(instance.app)
    return {"access": access, "instance": instance, "operations": operations, "active": active,
            "latest": operations[0] if operations else None, "spec": spec,
            "can_operate": access.allows("instance.operate"), "can_delete": access.allows("instance.delete"),
            "can_retry": bool(operations) and access.may_retry(operations[0].kind),
            "can_manage_credentials": access.allows("instance.credentials"),
            "publishes_to_wordpress": access.allows("instance.credentials") and spec is not None
            and get_credential_kind(instance) is not None}


@with_team("instance.view")
def detail(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    try:
        context = _detail_context(access, ref)
    except ApplicationError as exc:
        return render(request, "dashboard/not_found.html", {"access": access, "message": exc.message}, status=404)
    context["delete_form"] = InstanceDeleteForm(expected=context["instance"].slug)
    return render(request, "dashboard/instance_detail.html", context)


@with_team("instance.view")
def progress(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    """The live part of the instance page, polled by htmx while an operation runs."""
    try:
        context = _detail_context(access, ref)
    except ApplicationError:
        return HttpResponse(status=404)
    response = render(request, "dashboard/_progress.html", context, status=200 if context["active"] else 286)
    if not context["active"] and request.GET.get("watching"):
        # The operation the page was watching has ended: reload it whole, so that the actions
        # and the history show the new state too. (286 alone tells htmx to stop polling.)
        response["HX-Refresh"] = "true"
    return response


@require_POST
@with_team("instance.operate")
def action(request: HttpRequest, access: Access, ref: str, name: str) -> HttpResponse:
    service, permission = ACTIONS.get(name, (None, ""))
    instance = selectors.instance_get(team=access.team, ref=ref)
    if service is None or not access.allows(permission):
        messages.error(request, _("That action is not available."))
    else:
        try:
            service(instance=instance, actor=access.actor)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect(safe_next(request, request.POST.get("next"),
                              reverse("dashboard:instance", args=[access.team.slug, instance.slug])))


@require_POST
@with_team("instance.operate")
def retry(request: HttpRequest, access: Access, ref: str, operation_id: str) -> HttpResponse:
    """Retry the instance's latest operation, when it failed and the role may redo what it does."""
    instance = selectors.instance_get(team=access.team, ref=ref)
    operation = selectors.operation_get(team=access.team, operation_id=operation_id)
    if operation.instance_id != instance.pk or not access.may_retry(operation.kind):
        messages.error(request, _("That action is not available."))
    else:
        try:
            services.operation_retry(operation=operation, actor=access.actor)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("dashboard:instance", team_slug=access.team.slug, ref=instance.slug)


@require_POST
@with_team("instance.delete")
def delete(request: HttpRequest, access: Access, ref: str) -> HttpResponse:
    context = _detail_context(access, ref)
    instance = context["instance"]
    form = InstanceDeleteForm(request.POST, expected=instance.slug)
    if form.is_valid():
        try:
            services.instance_delete(instance=instance, actor=access.actor)
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("%(name)s is being deleted.") % {"name": instance.slug})
            return redirect("dashboard:overview", team_slug=access.team.slug)
    context["delete_form"] = form
    return render(request, "dashboard/instance_detail.html", context, status=422)
