"""Usage over REST: event ingestion (batches) and the usage of an instance or of the team."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from tenantry.api.auth import access_of
from tenantry.automations import services as automations
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.models import Instance
from tenantry.instances.schemas import ErrorOut
from tenantry.metering import selectors
from tenantry.metering.schemas import InstanceUsageOut, QuotaOut, UsageBatchIn, UsageBatchOut
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
