"""Outbound webhooks over REST: a team's endpoints, their delivery log, replays. Scoped to the
API key's team: another team's endpoint or delivery is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from tenantry.api.auth import access_of
from tenantry.api.pagination import BoundedPagination
from tenantry.events.catalog import WEBHOOK_EVENT_TYPES
from tenantry.instances.schemas import ErrorOut
from tenantry.webhooks import selectors, services
from tenantry.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenantry.webhooks.schemas import (
    DeliveryOut,
    EndpointCreatedOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EventTypesOut,
    SecretOut,
)

router = Router(tags=["webhooks"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.get("/event-types", response=EventTypesOut, summary="Event types an endpoint can subscribe to")
def event_types(request: HttpRequest) -> dict:
    return {"event_types": WEBHOOK_EVENT_TYPES}


@router.get("/endpoints", response=list[EndpointOut], summary="List webhook endpoints (paginated)")
@paginate(BoundedPagination)
def list_endpoints(request: HttpRequest) -> QuerySet[WebhookEndpoint]:
    access = access_of(request)
    access.require("webhook.view")
    return selectors.endpoint_list(team=access.team)


@router.post("/endpoints", response={201: EndpointCreatedOut, **ERRORS}, summary="Register a webhook endpoint")
def create_endpoint(request: HttpRequest, payload: EndpointIn) -> Status:
    access = access_of(request)
    access.require("webhook.manage")
    endpoint, secret = services.endpoint_create(team=access.team, actor=access.actor, **payload.dict())
    return Status(201, {"endpoint": endpoint, "secret": secret})


@router.get("/endpoints/{endpoint_id}", response={200: EndpointOut, **ERRORS}, summary="Show a webhook endpoint")
def show_endpoint(request: HttpRequest, endpoint_id: str) -> WebhookEndpoint:
    access = access_of(request)
    access.require("webhook.view")
    return selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id)


@router.patch("/endpoints/{endpoint_id}", response={200: EndpointOut, **ERRORS},
              summary="Change an endpoint (URL, event types, enabled)")
def update_endpoint(request: HttpRequest, endpoint_id: str, payload: EndpointPatch) -> WebhookEndpoint:
    access = access_of(request)
    access.require("webhook.manage")
    endpoint = selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id)
    return services.endpoint_update(endpoint=endpoint, actor=access.actor, **payload.dict())


@router.post("/endpoints/{endpoint_id}/rotate-secret", response={200: SecretOut, **ERRORS},
             summary="Replace the signing secret (the new one is shown only now)")
def rotate_secret(request: HttpRequest, endpoint_id: str) -> dict:
    access = access_of(request)
    access.require("webhook.manage")
    endpoint = selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id)
    return {"secret": services.endpoint_rotate_secret(endpoint=endpoint, actor=access.actor)}


@router.delete("/endpoints/{endpoint_id}", response={204: None, **ERRORS}, summary="Delete a webhook endpoint")
def delete_endpoint(request: HttpRequest, endpoint_id: str) -> Status:
    access = access_of(request)
    access.require("webhook.manage")
    endpoint = selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id)
    services.endpoint_delete(endpoint=endpoint, actor=access.actor)
    return Status(204, None)


@router.get("/deliveries", response=list[DeliveryOut],
            summary="The delivery log, newest first (paginated; filter by endpoint and status)")
@paginate(BoundedPagination)
def list_deliveries(request: HttpRequest, endpoint_id: str | None = None,
                    status: str | None = None) -> QuerySet[WebhookDelivery]:
    """`status`: pending, succeeded or failed."""
    access = access_of(request)
    access.require("webhook.view")
    endpoint = selectors.endpoint_get(team=access.team, endpoint_id=endpoint_id) if endpoint_id else None
    return selectors.delivery_list(team=access.team, endpoint=endpoint, status=status)


@router.get("/deliveries/{delivery_id}", response={200: DeliveryOut, **ERRORS},
            summary="A delivery with its attempts (request and response, truncated)")
def show_delivery(request: HttpRequest, delivery_id: int) -> WebhookDelivery:
    access = access_of(request)
    access.require("webhook.view")
    return selectors.delivery_get(team=access.team, delivery_id=delivery_id)


@router.post("/deliveries/{delivery_id}/replay", response={202: DeliveryOut, **ERRORS},
             summary="Send a delivery's event again")
def replay_delivery(request: HttpRequest, delivery_id: int) -> Status:
    access = access_of(request)
    access.require("webhook.manage")
    delivery = selectors.delivery_get(team=access.team, delivery_id=delivery_id)
    replay = services.delivery_replay(delivery=delivery, actor=access.actor)
    return Status(202, selectors.delivery_get(team=access.team, delivery_id=replay.pk))
