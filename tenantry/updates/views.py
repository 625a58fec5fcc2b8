"""The operator console's updates page: start a rollout, follow rollouts, cancel one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.core.errors import ApplicationError, NotFound
from tenantry.dashboard.context import signed_in_user, with_team
from tenantry.instances.selectors import operator_instance_get
from tenantry.updates import selectors, services
from tenantry.updates.forms import MaintenanceWindowForm, RolloutForm
from tenantry.updates.models import MaintenanceWindow


@staff_member_required
def operator_updates(request: HttpRequest) -> HttpResponse:
    form = RolloutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            instances = None
            if data["scope"] == "instances":
                instances = [operator_instance_get(ref=ref.strip()) for ref in data["instances"].split(",")
                             if ref.strip()]
            actor = f"operator:{signed_in_user(request).email}"
            rollout = services.rollout_create(
                app=data["app"], to_version=data["to_version"].strip(), actor=actor,
                instances=instances, percent=data["percent"] if data["scope"] == "percent" else None,
                max_failures=data["max_failures"], concurrency=data["concurrency"], respect_windows=not data["now"])
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Rollout started: %(count)s instance(s).") % {"count": rollout.targets.count()})
            return redirect("dashboard:operator_updates")
    rollouts = selectors.operator_rollout_list().prefetch_related("targets__instance")[:30]
    return render(request, "updates/operator_updates.html", {"nav": "operator_updates", "form": form,
                                                             "rollouts": rollouts})


@require_POST
@staff_member_required
def operator_rollout_cancel(request: HttpRequest, rollout_id: str) -> HttpResponse:
    try:
        rollout = selectors.operator_rollout_get(rollout_id=rollout_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    try:
        services.rollout_cancel(rollout=rollout, actor=f"operator:{signed_in_user(request).email}")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Rollout cancelled; updates already running finish."))
    return redirect("dashboard:operator_updates")


@with_team("instance.view")
def maintenance_window(request: HttpRequest, access: Access) -> HttpResponse:
    """The team's maintenance window: when the operator may update its instances."""
    window = MaintenanceWindow.objects.filter(team=access.team).first()
    can_manage = access.allows("team.maintenance")
    initial = ({"start_time": window.start_time, "duration_minutes": window.duration_minutes,
                "weekdays": window.weekdays, "timezone": window.timezone} if window else None)
    form = MaintenanceWindowForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not can_manage:
            raise Http404("Not allowed")
        if request.POST.get("clear"):
            services.maintenance_window_clear(team=access.team, actor=access.actor)
            messages.success(request, _("No maintenance window: updates may happen at any time."))
            return redirect("dashboard:maintenance_window", team_slug=access.team.slug)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.maintenance_window_set(team=access.team, actor=access.actor, start_time=data["start_time"],
                                                duration_minutes=data["duration_minutes"], weekdays=data["weekdays"],
                                                tz=data["timezone"].strip())
            except ApplicationError as exc:
                field = exc.details.get("field")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Maintenance window saved."))
                return redirect("dashboard:maintenance_window", team_slug=access.team.slug)
    return render(request, "updates/maintenance_window.html", {"access": access, "form": form, "window": window,
                                                               "can_manage": can_manage})
