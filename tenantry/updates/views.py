"""The operator console's updates page: start a rollout, follow rollouts, cancel one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.core.errors import ApplicationError, NotFound
from tenantry.dashboard.context import signed_in_user
from tenantry.instances.selectors import operator_instance_get
from tenantry.updates import selectors, services
from tenantry.updates.forms import RolloutForm


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
