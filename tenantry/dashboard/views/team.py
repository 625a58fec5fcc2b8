"""Team page (members, roles, invitations), API keys, invitation acceptance."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenantry.accounts.access import Access
from tenantry.accounts.models import Membership, User
from tenantry.accounts.selectors import open_invitations, team_api_keys, team_members
from tenantry.accounts.services.api_keys import api_key_create, api_key_revoke
from tenantry.accounts.services.invitations import (
    PENDING_INVITATION_SESSION_KEY,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    invitation_revoke,
)
from tenantry.accounts.services.teams import membership_remove, membership_set_role, team_set_time_zone
from tenantry.core.errors import ApplicationError
from tenantry.dashboard.context import signed_in_user, with_team
from tenantry.dashboard.forms import ApiKeyForm, InvitationForm, RoleForm


def _member(access: Access, membership_id: str) -> Membership:
    membership = Membership.objects.select_related("user", "team").filter(team=access.team, pk=membership_id).first()
    if membership is None:
        raise Http404("No such member")
    return membership


@with_team("team.view_members")
def team(request: HttpRequest, access: Access) -> HttpResponse:
    owners = access.allows("team.manage_owners")
    form = InvitationForm(request.POST or None, can_manage_owners=owners)
    if request.method == "POST":
        if not access.allows("team.manage_members"):
            raise Http404("Not allowed")
        if form.is_valid():
            try:
                invitation_create(access=access, email=form.cleaned_data["email"], role=form.cleaned_data["role"])
            except ApplicationError as exc:
                form.add_error(exc.details["field"] if exc.details.get("field") in ("email", "role") else None,
                               exc.message)
            else:
                messages.success(request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]})
                return redirect("dashboard:team", team_slug=access.team.slug)
    return render(request, "dashboard/team.html", {
        "access": access, "form": form, "members": team_members(team=access.team),
        "invitations": open_invitations(team=access.team) if access.allows("team.manage_members") else [],
        "can_manage": access.allows("team.manage_members"), "role_form": RoleForm(can_manage_owners=owners),
        "can_manage_owners": owners, "can_edit_settings": access.allows("team.settings"),
    })


@require_POST
@with_team("team.settings")
def team_time_zone(request: HttpRequest, access: Access) -> HttpResponse:
    try:
        team_set_time_zone(access=access, time_zone=request.POST.get("time_zone", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Time zone saved. Running apps use it from their next restart."))
    return redirect("dashboard:team", team_slug=access.team.slug)


@require_POST
@with_team("team.manage_members")
def member_role(request: HttpRequest, access: Access, membership_id: str) -> HttpResponse:
    form = RoleForm(request.POST, can_manage_owners=access.allows("team.manage_owners"))
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("role", [])))
    else:
        try:
            membership_set_role(membership=_member(access, membership_id), role=form.cleaned_data["role"],
                                access=access)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("dashboard:team", team_slug=access.team.slug)


@require_POST
@with_team("team.view_members")
def member_remove(request: HttpRequest, access: Access, membership_id: str) -> HttpResponse:
    membership = _member(access, membership_id)
    leaving = membership.user_id == request.user.pk
    if not leaving and not access.allows("team.manage_members"):
        raise Http404("Not allowed")
    try:
        membership_remove(membership=membership, access=access)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:team", team_slug=access.team.slug)
    if leaving:
        messages.success(request, _("You left %(team)s.") % {"team": access.team.name})
        return redirect("dashboard:home")
    return redirect("dashboard:team", team_slug=access.team.slug)


@require_POST
@with_team("team.manage_members")
def invitation_cancel(request: HttpRequest, access: Access, invitation_id: str) -> HttpResponse:
    try:
        invitation_revoke(access=access, invitation_id=invitation_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("dashboard:team", team_slug=access.team.slug)


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = invitation_for_token(token)
    except ApplicationError as exc:
        return render(request, "dashboard/invitation.html", {"error": exc.message}, status=404)
    if not request.user.is_authenticated:
        # Remember it across signup and the verification mail; the login redirect comes back here.
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        messages.info(request, _("Sign in or create an account with %(email)s to join %(team)s.")
                      % {"email": found.email, "team": found.team.name})
        target = "account_login" if User.objects.filter(email=found.email).exists() else "account_signup"
        return redirect(target)
    if request.method == "POST":
        try:
            membership = invitation_accept(token=token, user=signed_in_user(request))
        except ApplicationError as exc:
            return render(request, "dashboard/invitation.html", {"invitation": found, "error": exc.message},
                          status=422)
        messages.success(request, _("Welcome to %(team)s.") % {"team": membership.team.name})
        return redirect("dashboard:overview", team_slug=membership.team.slug)
    return render(request, "dashboard/invitation.html", {"invitation": found})


@with_team("team.manage_api_keys")
def api_keys(request: HttpRequest, access: Access) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_key_create(team=access.team, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"],
                                    created_by=access.user, actor=access.actor,
                                    billing=form.cleaned_data.get("billing") or "", granted_by=access)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            form = ApiKeyForm()
    return render(request, "dashboard/api_keys.html", {"access": access, "form": form, "issued": issued,
                                                       "keys": team_api_keys(team=access.team)})


@require_POST
@with_team("team.manage_api_keys")
def api_key_delete(request: HttpRequest, access: Access, prefix: str) -> HttpResponse:
    try:
        api_key_revoke(team=access.team, prefix=prefix, actor=access.actor)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("Key revoked."))
    return redirect("dashboard:api_keys", team_slug=access.team.slug)
