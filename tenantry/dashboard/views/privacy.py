"""A person's data: download it all, erase the account; an owner deletes a team."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.accounts.models import User
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import signed_in_user, with_team
from tenantry.privacy.services.erase import user_erase
from tenantry.privacy.services.export import user_data_export
from tenantry.privacy.services.teams import team_delete_by_owner


def _zip(user: User) -> HttpResponse:
    response = HttpResponse(user_data_export(user=user), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="tenantry-data.zip"'
    return response


@login_required
def data_export(request: HttpRequest) -> HttpResponse:
    return _zip(signed_in_user(request))


@login_required
def user_export(request: HttpRequest, user_id: int) -> HttpResponse:
    """Staff export a customer's data on their request; anyone else: there is no such page."""
    user = signed_in_user(request)
    if user.pk != user_id and not user.is_staff:
        raise Http404("No such user")
    target = User.objects.filter(pk=user_id).first()
    if target is None:
        raise Http404("No such user")
    return _zip(target)


@login_required
def erase(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm", "").strip().lower() != user.email.lower():
            error = _("Type your email address to confirm.")
        else:
            try:
                user_erase(user=user, actor=f"user:{user.email}")
            except ApplicationError as exc:
                error = exc.message
            else:
                logout(request)
                messages.success(request, _("Your account and your personal data have been erased."))
                return redirect("account_login")
    return render(request, "dashboard/account_erase.html", {"error": error}, status=422 if error else 200)


@require_POST
@with_team("team.manage_owners")
def team_delete(request: HttpRequest, access: Access) -> HttpResponse:
    if request.POST.get("confirm", "").strip() != access.team.slug:
        messages.error(request, _("Type the team's short name to confirm."))
        return redirect("dashboard:team", team_slug=access.team.slug)
    try:
        team_delete_by_owner(access=access)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:team", team_slug=access.team.slug)
    request.session.pop("team", None)
    messages.success(request, _("The team is deleted: its instances are being removed, its backups will be "
                                "erased after the retention period."))
    return redirect("dashboard:home")
