"""Usage over REST: event ingestion (batches) and the usage of an instance or of the team."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from ninja import Router

from tenantry.api.auth import access_of
from tenantry.automations import services as automations
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.models import Instance
from tenantry.instances.schemas import ErrorOut
from tenantry.metering import selectors
from tenantry.metering.reports import TeamReport, team_report, usage_csv
from tenantry.metering.schemas import (
    DayOut,
    InstanceReportOut,
    InstanceUsageOut,
    QuotaOut,
    QuotaReportOut,
    TeamTotalOut,
    UsageBatchIn,
    UsageBatchOut,
    UsageReportOut,
)
from tenantry.metering.services.ingest import usage_events_ingest
from tenantry.metering.services.quotas import InstanceQuotas

router = Router(tags=["usage"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _out(instance: Instance, entry: InstanceQuotas | None) -> InstanceUsageOut:
    quotas = entry.quotas if entry else []
    return InstanceUsageOut(
        instance=instance.slug,
        quotas=[QuotaOut(code=q.code, label=q.label, unit=q.unit, used=f"{q.used.normalize():f}",
                         included=f"{q.included.normalize():f}", percent=q.percent, policy=q.policy,
                         period_start=q.period_start, period_end=q.period_end) for q in quotas],
        executions_this_month=automations.executions_this_month(instance=instance),
        executions_limit=automations.executions_limit(instance=instance), month_start=automations.month_start())


@router.post("/usage/events", response={200: UsageBatchOut, **ERRORS},
             summary="Send up to 1,000 usage events; all stored or none (the refusal names the item's index)")
def ingest(request: HttpRequest, payload: UsageBatchIn):
    access = access_of(request)
    access.require("instance.operate")
    result = usage_events_ingest(team=access.team, events=payload.events)
    return UsageBatchOut(accepted=result.accepted, duplicates=result.duplicates)


@router.get("/instances/{ref}/usage", response={200: InstanceUsageOut, **ERRORS},
            summary="An instance's usage in the current period against what the plan includes")
def instance_usage(request: HttpRequest, ref: str):
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    automations.executions_sync_quietly(instance=instance)  # a fresh count when the app is up
    return _out(instance, selectors.instance_usage(team=access.team, instance=instance))


@router.get("/usage", response={200: list[InstanceUsageOut], **ERRORS},
            summary="The team's usage per instance in the current period")
def team_usage(request: HttpRequest):
    access = access_of(request)
    access.require("instance.view")
    return [_out(entry.instance, entry) for entry in selectors.team_usage(team=access.team)]


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _report_out(report: TeamReport) -> UsageReportOut:
    instances = []
    for item in report.instances:
        quotas = []
        for r in item.quotas:
            q = r.status
            quotas.append(QuotaReportOut(
                code=q.code, label=q.label, unit=q.unit, used=_number(q.used), included=_number(q.included),
                percent=q.percent, policy=q.policy, period_start=q.period_start, period_end=q.period_end,
                projected_used=_number(r.projected_used), projected_overage_minor=r.projected_overage_minor,
                daily=[DayOut(day=p.day, value=_number(p.value)) for p in r.daily]))
        instances.append(InstanceReportOut(instance=item.instance.slug, app=item.instance.app, quotas=quotas))
    return UsageReportOut(
        period_start=report.period_start, period_end=report.period_end, currency=report.currency,
        projected_overage_minor=report.projected_overage_minor, instances=instances,
        totals=[TeamTotalOut(code=t.code, label=t.label, unit=t.unit, used=_number(t.used),
                             included=_number(t.included), percent=t.percent,
                             projected_overage_minor=t.projected_overage_minor) for t in report.totals])


def _report(request: HttpRequest, instance_ref: str | None) -> TeamReport:
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=instance_ref) if instance_ref else None
    return team_report(team=access.team, instance=instance)


@router.get("/usage/report", response={200: UsageReportOut, **ERRORS},
            summary="The team's (or one instance's) usage this period: totals, daily values, projected overage")
def usage_report(request: HttpRequest, instance: str | None = None):
    return _report_out(_report(request, instance))


@router.get("/usage/export.csv", response={200: None, **ERRORS}, summary="The same report as CSV, one row per day")
def usage_export(request: HttpRequest, instance: str | None = None):
    response = HttpResponse(usage_csv(_report(request, instance)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="usage.csv"'
    return response
