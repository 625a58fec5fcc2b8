"""Home (which team), account settings, the operator's overview."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from tenantry.accounts.permissions import role_allows
from tenantry.accounts.selectors import user_memberships
from tenantry.accounts.services.profile import profile_update
from tenantry.accounts.services.teams import ensure_personal_team, team_create
from tenantry.billing.selectors import team_needs_plan
from tenantry.dashboard.context import signed_in_user
from tenantry.dashboard.forms import ProfileForm, TeamForm
from tenantry.instances.models import Instance, Operation, OperationStatus, Status


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    user = signed_in_user(request)
    team = ensure_personal_team(user)
    chosen = request.session.get("team")
    memberships = user_memberships(user=user)
    current = memberships.filter(team__slug=chosen).first() if chosen else None
    if current is None:  # someone invited into a team with a plan starts there, not in their own
        current = next((m for m in memberships if not team_needs_plan(m.team)), None) or memberships.first()
    if current is None:
        return redirect("dashboard:team", team_slug=team.slug)
    # Signing in is the real end of signup (email confirmation comes first): a team that has no
    # plan while plans are on sale is led to the plan choice, by whoever can choose it.
    if role_allows(current.role, "billing.manage") and team_needs_plan(current.team):
        return redirect("dashboard:billing_plans", team_slug=current.team.slug)
    if current.role != "billing":
        return redirect("dashboard:overview", team_slug=current.team.slug)
    return redirect("dashboard:team", team_slug=current.team.slug)


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = ProfileForm(request.POST or None, initial={"first_name": user.first_name, "last_name": user.last_name,
                                                      "language": user.language})
    team_form = TeamForm()
    if request.method == "POST" and form.is_valid():
        profile_update(user=user, **{f: form.cleaned_data[f] for f in ("first_name", "last_name", "language")})
        messages.success(request, _("Saved."))
        return redirect("dashboard:account")
    return render(request, "dashboard/account.html", {
        "form": form, "team_form": team_form, "memberships": user_memberships(user=user)})


@login_required
def team_new(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = signed_in_user(request)
        team = team_create(name=form.cleaned_data["name"], owner=user, actor=f"user:{user.email}")
        request.session["team"] = team.slug
        return redirect("dashboard:overview", team_slug=team.slug)
    return render(request, "dashboard/team_new.html", {"form": form})


@login_required
def switch_team(request: HttpRequest, team_slug: str) -> HttpResponse:
    if user_memberships(user=signed_in_user(request)).filter(team__slug=team_slug).exists():
        request.session["team"] = team_slug
    return redirect("dashboard:home")


@staff_member_required
def operator(request: HttpRequest) -> HttpResponse:
    """For the operator: how many instances in each state, and what failed."""
    counts = dict(Instance.objects.exclude(status=Status.DELETED).values_list("status")
                  .annotate(n=Count("id")).values_list("status", "n"))
    failed = (Operation.objects.filter(status=OperationStatus.FAILED, instance__status=Status.FAILED)
              .select_related("instance", "instance__team").order_by("-created_at")[:50])
    return render(request, "dashboard/operator.html", {
        "counts": [(status.label, counts.get(status.value, 0)) for status in Status if status != Status.DELETED],
        "total": sum(counts.values()), "failed": failed})
