from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from tenantry.catalog.registry import app_templates, get_app, get_catalog
from tenantry.catalog.schema import AppSpec
from tenantry.catalog.versions import known_versions
from tenantry.instances.deployment import app_images
from tenantry.instances.schemas import AppInputOut, AppOut, ErrorOut

router = Router(tags=["apps"])


def _app_out(spec: AppSpec) -> AppOut:
    size = spec.default_resources()
    return AppOut(name=spec.name, title=spec.title, description=spec.description, version=spec.version,
                  versions=known_versions(spec),
                  services=spec.start_order(), images=app_images(spec), memory_mb=size.memory_mb,
                  cpus=size.cpus, inputs=[AppInputOut(**i.model_dump()) for i in spec.inputs],
                  templates=sorted(app_templates(spec.name)), default_templates=spec.templates.default)


@router.get("", response=list[AppOut], summary="List the app catalog")
def list_apps(request: HttpRequest) -> list[AppOut]:
    return [_app_out(spec) for spec in get_catalog().values()]


@router.get("/{name}", response={200: AppOut, 404: ErrorOut}, summary="Show one app")
def show_app(request: HttpRequest, name: str) -> AppOut:
    return _app_out(get_app(name))
