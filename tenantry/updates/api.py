"""Updates over REST: rollouts for the operators (the operators' team's API key), and each
team's maintenance window for the team itself."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from tenantry.accounts.access import Access, Forbidden
from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.billing.entitlements import is_operator_team
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.api import ERRORS
from tenantry.updates import selectors, services
from tenantry.updates.models import MaintenanceWindow, Rollout
from tenantry.updates.schemas import (
    InstanceTemplateOut,
    MaintenanceWindowIn,
    MaintenanceWindowOut,
    RolloutIn,
    RolloutOut,
    TemplatePushIn,
    TemplatePushOut,
)
from tenantry.updates.templates import template_push, template_rollback

router = Router(tags=["updates"])


def _operator(request: HttpRequest) -> Access:
    access = access_of(request)
    if not is_operator_team(access.team):
        raise Forbidden("Only the operators roll out app versions.", code="operators_only")
    access.require("instance.operate")
    return access


@router.get("/rollouts", response={200: list[RolloutOut], **ERRORS}, summary="Rollouts, newest first (operators)")
@paginate(BoundedPagination)
def list_rollouts(request: HttpRequest) -> QuerySet[Rollout]:
    _operator(request)
    return selectors.operator_rollout_list()


@router.post("/rollouts", response={202: RolloutOut, **ERRORS},
             summary="Roll a version out to instances, a percentage or all (operators)")
def create_rollout(request: HttpRequest, payload: RolloutIn) -> Status:
    access = _operator(request)
    instances = None
    if payload.instances is not None:
        instances = [instance_selectors.operator_instance_get(ref=ref) for ref in payload.instances]
    rollout = services.rollout_create(app=payload.app, to_version=payload.to_version, actor=access.actor,
                                      instances=instances, percent=payload.percent,
                                      max_failures=payload.max_failures, concurrency=payload.concurrency,
                                      respect_windows=payload.respect_windows)
    return Status(202, selectors.operator_rollout_get(rollout_id=str(rollout.pk)))


@router.get("/rollouts/{rollout_id}", response={200: RolloutOut, **ERRORS}, summary="Show a rollout (operators)")
def show_rollout(request: HttpRequest, rollout_id: str) -> Rollout:
    _operator(request)
    return selectors.operator_rollout_get(rollout_id=rollout_id)


@router.post("/rollouts/{rollout_id}/cancel", response={200: RolloutOut, **ERRORS},
             summary="Start no more updates of this rollout (operators)")
def cancel_rollout(request: HttpRequest, rollout_id: str) -> Rollout:
    access = _operator(request)
    rollout = services.rollout_cancel(rollout=selectors.operator_rollout_get(rollout_id=rollout_id),
                                      actor=access.actor)
    return selectors.operator_rollout_get(rollout_id=str(rollout.pk))


@router.get("/maintenance-window", response={200: MaintenanceWindowOut, **ERRORS},
            summary="When the team's instances may be updated")
def show_window(request: HttpRequest) -> MaintenanceWindow:
    access = access_of(request)
    access.require("instance.view")
    return selectors.maintenance_window_get(team=access.team)


@router.put("/maintenance-window", response={200: MaintenanceWindowOut, **ERRORS},
            summary="Set the team's maintenance window")
def set_window(request: HttpRequest, payload: MaintenanceWindowIn) -> MaintenanceWindow:
    access = access_of(request)
    access.require("team.maintenance")
    return services.maintenance_window_set(team=access.team, actor=access.actor, start_time=payload.start_time,
                                           duration_minutes=payload.duration_minutes, weekdays=payload.weekdays,
                                           tz=payload.timezone)


@router.delete("/maintenance-window", response={204: None, **ERRORS},
               summary="Remove the window: updates may happen at any time")
def clear_window(request: HttpRequest) -> Status:
    access = access_of(request)
    access.require("team.maintenance")
    services.maintenance_window_clear(team=access.team, actor=access.actor)
    return Status(204, None)


@router.post("/apps/{app}/templates/{name}/push", response={200: list[TemplatePushOut], **ERRORS},
             summary="Push the catalog's version of a workflow template to instances (operators)")
def push_template(request: HttpRequest, app: str, name: str, payload: TemplatePushIn) -> list[TemplatePushOut]:
    access = _operator(request)
    instances = None
    if payload.instances is not None:
        instances = [instance_selectors.operator_instance_get(ref=ref) for ref in payload.instances]
    results = template_push(app=app, name=name, actor=access.actor, instances=instances)
    return [TemplatePushOut(instance=r.instance, ok=r.ok, version=r.version, message=r.message) for r in results]


@router.post("/instances/{ref}/templates/{name}/rollback", response={200: InstanceTemplateOut, **ERRORS},
             summary="Put back the template version the last push replaced (operators)")
def rollback_template(request: HttpRequest, ref: str, name: str) -> object:
    access = _operator(request)
    instance = instance_selectors.operator_instance_get(ref=ref)
    return template_rollback(instance=instance, name=name, actor=access.actor)
