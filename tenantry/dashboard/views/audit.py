"""The audit trail in the dashboard: a team's for its owners, everyone's for staff; CSV of either."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from tenantry.accounts.access import Access
from tenantry.core.models import AuditEvent
from tenantry.dashboard.context import with_team
from tenantry.privacy.selectors import AuditFilter, all_audit_trail, team_audit_trail
from tenantry.privacy.services.audit import audit_csv

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("Action"), required=False, max_length=100,
                             help_text=_("An action, or a prefix ending with a dot (instance.)"))
    actor = forms.CharField(label=_("Actor"), required=False, max_length=200)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.SlugField(label=_("Team"), required=False, max_length=60)


def _filter(form: AuditFilterForm) -> AuditFilter:
    if not form.is_valid():
        return AuditFilter()
    data = form.cleaned_data

    def day(value: object) -> datetime | None:
        return datetime.combine(value, datetime.min.time()).astimezone() if value else None  # type: ignore[arg-type]

    return AuditFilter(action=data["action"], actor=data["actor"], since=day(data["since"]), until=day(data["until"]))


def _answer(request: HttpRequest, rows: QuerySet[AuditEvent], context: dict, filename: str) -> HttpResponseBase:
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(audit_csv(rows.iterator(chunk_size=500)),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "dashboard/audit.html", {**context, "page": page, "query": query.urlencode()})


@with_team("audit.view")
def team_audit(request: HttpRequest, access: Access) -> HttpResponseBase:
    form = AuditFilterForm(request.GET or None)
    rows = team_audit_trail(team=access.team, flt=_filter(form))
    return _answer(request, rows, {"access": access, "form": form, "nav": "audit", "staff_view": False},
                   f"audit-{access.team.slug}.csv")


@staff_member_required
def operator_audit(request: HttpRequest) -> HttpResponseBase:
    form = AuditFilterForm(request.GET or None)
    team_slug = form.cleaned_data.get("team", "") if form.is_valid() else ""
    rows = all_audit_trail(flt=_filter(form), team_slug=team_slug)
    return _answer(request, rows, {"form": form, "nav": "operator_audit", "staff_view": True}, "audit.csv")
