"""Usage: per instance and for the team, used / included with bars, daily charts (SVG), the
projected overage of the current period, a CSV export; and the operators' overview."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from tenantry.accounts.access import Access
from tenantry.core.errors import NotFound
from tenantry.dashboard.context import with_team
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.models import Instance
from tenantry.metering.overview import operator_usage_overview
from tenantry.metering.reports import team_report, usage_csv


def _instance(access: Access, request: HttpRequest) -> Instance | None:
    ref = request.GET.get("instance")
    if not ref:
        return None
    try:
        return instance_selectors.instance_get(team=access.team, ref=ref)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@with_team("instance.view")
def usage(request: HttpRequest, access: Access) -> HttpResponse:
    instance = _instance(access, request)
    return render(request, "dashboard/usage.html", {"access": access, "nav": "usage", "only": instance,
                                                    "report": team_report(team=access.team, instance=instance)})


@with_team("instance.view")
def usage_export(request: HttpRequest, access: Access) -> HttpResponse:
    instance = _instance(access, request)
    report = team_report(team=access.team, instance=instance)
    name = f"usage-{access.team.slug}{'-' + instance.slug if instance else ''}.csv"
    response = HttpResponse(usage_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_member_required
def operator_usage(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/operator_usage.html", {"nav": "operator_usage",
                                                             "overview": operator_usage_overview()})
