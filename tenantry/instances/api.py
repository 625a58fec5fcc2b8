"""Instances and operations over REST. Every query is scoped to the API key's team; another
team's instance is a 404, exactly like one that does not exist."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Header, Router, Status
from ninja.pagination import paginate

from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.core.models import IdempotencyRecord
from tenantry.instances import selectors, services
from tenantry.instances.models import Instance, Operation
from tenantry.instances.schemas import (
    INSTANCE_OUT_COLUMNS,
    ErrorOut,
    InstanceCreatedOut,
    InstanceCreateIn,
    InstanceOut,
    OperationOut,
)

router = Router(tags=["instances"])
# 402 plan_required, 403 app_not_in_plan / size_over_plan, 409 plan_limit_reached: the plan's answers.
ERRORS = {400: ErrorOut, 401: ErrorOut, 402: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
          500: ErrorOut, 503: ErrorOut}


@router.post("/instances", response={202: InstanceCreatedOut, **ERRORS}, summary="Create an instance")
def create_instance(request: HttpRequest, payload: InstanceCreateIn,
                    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key",
                                                         max_length=200)) -> Status:
    """Validates, then queues provisioning; follow the returned operation for progress.
    Repeating a request with the same `Idempotency-Key` returns the first answer."""
    access = access_of(request)
    access.require("instance.create")
    scope = access.actor
    fingerprint = hashlib.sha256(json.dumps(payload.dict(), sort_keys=True).encode()).hexdigest()
    if idempotency_key:
        record = IdempotencyRecord.objects.filter(scope=scope, key=idempotency_key).first()
        if record is not None:
            if record.request_fingerprint != fingerprint:
                return Status(422, {"code": "idempotency_key_reused", "details": {},
                                    "message": "This Idempotency-Key was used with a different request."})
            return Status(record.status_code, record.body)
    instance, operation = services.instance_create(team=access.team, actor=access.actor, **payload.dict())
    body = InstanceCreatedOut.model_validate({
        "instance": selectors.instance_get(team=access.team, ref=str(instance.pk)),
        "operation": selectors.operation_get(team=access.team, operation_id=str(operation.pk)),
    }).model_dump(mode="json")
    if idempotency_key:
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(scope=scope, key=idempotency_key, request_fingerprint=fingerprint,
                                                 status_code=202, body=body)
        except IntegrityError:
            pass
    return Status(202, body)


@router.get("/instances", response=list[InstanceOut], summary="List instances (paginated: limit, offset)")
@paginate(BoundedPagination)
def list_instances(request: HttpRequest) -> QuerySet[Instance]:
    access = access_of(request)
    access.require("instance.view")
    return selectors.instance_list(team=access.team, only=INSTANCE_OUT_COLUMNS)


@router.get("/instances/{ref}", response={200: InstanceOut, **ERRORS}, summary="Show an instance (slug or id)")
def show_instance(request: HttpRequest, ref: str) -> Instance:
    access = access_of(request)
    access.require("instance.view")
    return selectors.instance_get(team=access.team, ref=ref)


def _action(service: Callable[..., Operation], permission: str) -> Callable[[HttpRequest, str], Status]:
    def view(request: HttpRequest, ref: str) -> Status:
        access = access_of(request)
        access.require(permission)
        instance = selectors.instance_get(team=access.team, ref=ref)
        operation = service(instance=instance, actor=access.actor)
        return Status(202, selectors.operation_get(team=access.team, operation_id=str(operation.pk)))

    view.__name__ = service.__name__.replace("instance_", "") + "_instance"
    return view


for _name, _service in [("start", services.instance_start), ("stop", services.instance_stop),
                        ("restart", services.instance_restart), ("hibernate", services.instance_hibernate),
                        ("wake", services.instance_wake)]:
    router.add_api_operation(f"/instances/{{ref}}/{_name}", ["POST"], _action(_service, "instance.operate"),
                             response={202: OperationOut, **ERRORS}, summary=f"{_name.capitalize()} an instance")

router.add_api_operation("/instances/{ref}", ["DELETE"], _action(services.instance_delete, "instance.delete"),
                         response={202: OperationOut, **ERRORS}, summary="Delete an instance and its data")


@router.get("/instances/{ref}/operations", response={200: list[OperationOut], **ERRORS},
            summary="An instance's operations, newest first")
def list_operations(request: HttpRequest, ref: str) -> list[Operation]:
    access = access_of(request)
    access.require("instance.view")
    instance = selectors.instance_get(team=access.team, ref=ref)
    return selectors.operation_list(team=access.team, instance=instance)


@router.get("/operations/{operation_id}", response={200: OperationOut, **ERRORS}, summary="Show an operation")
def show_operation(request: HttpRequest, operation_id: str) -> Operation:
    access = access_of(request)
    access.require("instance.view")
    return selectors.operation_get(team=access.team, operation_id=operation_id)


@router.post("/operations/{operation_id}/retry", response={202: OperationOut, **ERRORS},
             summary="Retry the instance's latest operation, if it failed")
def retry_operation(request: HttpRequest, operation_id: str) -> Status:
    access = access_of(request)
    failed = selectors.operation_get(team=access.team, operation_id=operation_id)
    access.require_retry(failed.kind)
    operation = services.operation_retry(operation=failed, actor=access.actor)
    return Status(202, selectors.operation_get(team=access.team, operation_id=str(operation.pk)))
