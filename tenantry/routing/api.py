"""Custom domains over REST, under the instance they point at. Scoped to the API key's team."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from tenantry.api.auth import access_of
from tenantry.instances import selectors as instance_selectors
from tenantry.instances.schemas import ErrorOut
from tenantry.routing import selectors, services
from tenantry.routing.presenters import domain_view
from tenantry.routing.schemas import DomainIn, DomainOut

router = Router(tags=["domains"])
ERRORS = {401: ErrorOut, 402: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
          500: ErrorOut}


@router.get("/instances/{ref}/domains", response={200: list[DomainOut], **ERRORS}, summary="List custom domains")
def list_domains(request: HttpRequest, ref: str) -> list[dict]:
    access = access_of(request)
    access.require("instance.view")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    return [domain_view(row) for row in selectors.domain_list(team=access.team, instance=instance)]


@router.post("/instances/{ref}/domains", response={201: DomainOut, **ERRORS}, summary="Add a custom domain")
def add_domain(request: HttpRequest, ref: str, payload: DomainIn) -> Status:
    """Answers the DNS records to create (`records`); then call `…/verify`."""
    access = access_of(request)
    access.require("instance.domains")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    row = services.domain_add(instance=instance, domain=payload.domain, actor=access.actor)
    return Status(201, domain_view(row))


@router.post("/instances/{ref}/domains/{domain}/verify", response={200: DomainOut, **ERRORS},
             summary="Verify a custom domain's DNS records")
def verify_domain(request: HttpRequest, ref: str, domain: str) -> dict:
    """422 `domain_not_verified` names each missing or wrong record in `details.problems`."""
    access = access_of(request)
    access.require("instance.domains")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    row = services.domain_verify(custom_domain=selectors.domain_get(team=access.team, instance=instance,
                                                                    domain=domain), actor=access.actor)
    return domain_view(row)


@router.delete("/instances/{ref}/domains/{domain}", response={204: None, **ERRORS}, summary="Remove a custom domain")
def remove_domain(request: HttpRequest, ref: str, domain: str) -> Status:
    access = access_of(request)
    access.require("instance.domains")
    instance = instance_selectors.instance_get(team=access.team, ref=ref)
    services.domain_remove(custom_domain=selectors.domain_get(team=access.team, instance=instance, domain=domain),
                           actor=access.actor)
    return Status(204, None)
