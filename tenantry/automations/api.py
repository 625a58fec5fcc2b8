"""An instance's workflows and executions, its admin login and credentials, over REST. Scoped to
the API key's team through the instance selectors, like every instance endpoint."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Status
from ninja.pagination import paginate

from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.automations import scheduling, selectors, services, wordpress
from tenantry.automations.models import ExecutionRecord
from tenantry.automations.schemas import (
    AdminLoginOut,
    ExecutionOut,
    InputsIn,
    LoginLinkOut,
    RunOut,
    ScheduleOut,
    WordPressConnectIn,
    WordPressConnectionOut,
    WorkflowOut,
)
from tenantry.core.errors import NotFound
from tenantry.instances import selectors as instance_selectors
from tenantry.instances import services as instance_services
from tenantry.instances.schemas import ErrorOut, OperationOut

router = Router(tags=["workflows"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 500: ErrorOut,
          502: ErrorOut, 503: ErrorOut}


def _instance(request: HttpRequest, ref: str, permission: str):
    access = access_of(request)
    access.require(permission)
    return access, instance_selectors.instance_get(team=access.team, ref=ref)


@router.get("/instances/{ref}/workflows", response={200: list[WorkflowOut], **ERRORS},
            summary="The workflows inside an automation instance (n8n), live from the app")
def list_workflows(request: HttpRequest, ref: str):
    _, instance = _instance(request, ref, "instance.view")
    return services.workflows_list(instance=instance)


@router.post("/instances/{ref}/workflows/{workflow_id}/activate", response={200: WorkflowOut, **ERRORS},
             summary="Activate a workflow (its triggers listen)")
def activate_workflow(request: HttpRequest, ref: str, workflow_id: str):
    access, instance = _instance(request, ref, "instance.operate")
    return services.workflow_set_active(instance=instance, workflow_id=workflow_id, active=True, actor=access.actor)


@router.post("/instances/{ref}/workflows/{workflow_id}/deactivate", response={200: WorkflowOut, **ERRORS},
             summary="Deactivate a workflow")
def deactivate_workflow(request: HttpRequest, ref: str, workflow_id: str):
    access, instance = _instance(request, ref, "instance.operate")
    return services.workflow_set_active(instance=instance, workflow_id=workflow_id, active=False, actor=access.actor)


@router.post("/instances/{ref}/workflows/{workflow_id}/run", response={202: RunOut, **ERRORS},
             summary="Run a workflow now; its execution appears in /executions")
def run_workflow(request: HttpRequest, ref: str, workflow_id: str) -> Status:
    access, instance = _instance(request, ref, "instance.operate")
    result = services.workflow_run_now(instance=instance, workflow_id=workflow_id, actor=access.actor)
    return Status(202, {"workflow_id": workflow_id, "execution_id": result.execution_id, "how": result.how})


@router.get("/instances/{ref}/executions", response=list[ExecutionOut],
            summary="Recent executions, newest first (paginated: limit, offset); copied from the app on each call")
@paginate(BoundedPagination)
def list_executions(request: HttpRequest, ref: str, workflow_id: str | None = None) -> QuerySet[ExecutionRecord]:
    _, instance = _instance(request, ref, "instance.view")
    services.executions_sync_quietly(instance=instance)
    return selectors.execution_list(instance=instance, workflow_id=workflow_id)


@router.post("/instances/{ref}/inputs", response={202: OperationOut, **ERRORS},
             summary="Change some of the app's inputs (rotate an external credential) without downtime")
def change_inputs(request: HttpRequest, ref: str, payload: InputsIn) -> Status:
    access, instance = _instance(request, ref, "instance.credentials")
    operation = instance_services.instance_update_inputs(instance=instance, inputs=payload.inputs, actor=access.actor)
    return Status(202, instance_selectors.operation_get(team=access.team, operation_id=str(operation.pk)))


@router.post("/instances/{ref}/rotate-credentials", response={202: OperationOut, **ERRORS},
             summary="Replace the credentials Tenantry holds for the app (its API key)")
def rotate_credentials(request: HttpRequest, ref: str) -> Status:
    access, instance = _instance(request, ref, "instance.credentials")
    operation = instance_services.instance_rotate_credentials(instance=instance, actor=access.actor)
    return Status(202, instance_selectors.operation_get(team=access.team, operation_id=str(operation.pk)))


@router.post("/instances/{ref}/admin-login", response={200: AdminLoginOut, **ERRORS},
             summary="The app's own admin login: shown once, a 409 afterwards")
def admin_login(request: HttpRequest, ref: str):
    access, instance = _instance(request, ref, "instance.credentials")
    return services.admin_credentials_reveal(instance=instance, actor=access.actor)


@router.post("/instances/{ref}/login-link", response={200: LoginLinkOut, **ERRORS},
             summary="A one-time link (valid a minute) that signs you in to the app itself")
def login_link(request: HttpRequest, ref: str):
    access, instance = _instance(request, ref, "instance.credentials")
    return {"url": services.admin_login_link(instance=instance, actor=access.actor)}


@router.get("/instances/{ref}/schedules", response={200: list[ScheduleOut], **ERRORS},
            summary="The time triggers of the instance's active workflows and their next runs "
                    "(refreshed from the app when it runs; kept while it hibernates)")
def list_schedules(request: HttpRequest, ref: str):
    _, instance = _instance(request, ref, "instance.view")
    if instance.status == "running" and instance.provisioned_at is not None:
        scheduling.schedules_sync_quietly(instance=instance)
    return selectors.schedule_triggers(instance=instance, now=timezone.now())


@router.get("/instances/{ref}/wordpress", response={200: WordPressConnectionOut, **ERRORS},
            summary="The WordPress site the instance's workflows publish to")
def get_wordpress(request: HttpRequest, ref: str):
    _, instance = _instance(request, ref, "instance.view")
    connection = selectors.wordpress_connection_get(instance=instance)
    if connection is None:
        raise NotFound(f"{instance.slug} publishes to no WordPress site yet.", code="wordpress_not_connected")
    return connection


@router.put("/instances/{ref}/wordpress", response={200: WordPressConnectionOut, **ERRORS},
            summary="Choose the WordPress site the instance's workflows publish to: one of the team's "
                    "WordPress instances, or a site elsewhere with an application password (checked first)")
def put_wordpress(request: HttpRequest, ref: str, payload: WordPressConnectIn):
    access, instance = _instance(request, ref, "instance.credentials")
    return wordpress.wordpress_choose(instance=instance, actor=access.actor, **payload.dict())
