"""Turn an instance and its app spec into the runtime's `Deployment`."""

from __future__ import annotations

import ipaddress
from decimal import Decimal

from django.conf import settings

from tenantry.catalog.registry import get_app
from tenantry.catalog.schema import AppSpec, Resources
from tenantry.catalog.templating import render
from tenantry.catalog.versions import service_image
from tenantry.instances.models import Instance
from tenantry.instances.naming import resource_prefix
from tenantry.instances.secrets import instance_secret_values
from tenantry.runtime.backends.base import (
    ContainerSpec,
    Deployment,
    HealthProbe,
    ResourceLimits,
    TmpfsMount,
    VolumeMount,
)


def resolve_image(image: str) -> str:
    return settings.TENANTRY["IMAGE_OVERRIDES"].get(image, image)


def app_images(spec: AppSpec) -> list[str]:
    return sorted({resolve_image(image) for image in spec.images()})


def service_limits(spec: AppSpec, instance_limits: Resources) -> dict[str, ResourceLimits]:
    """Share the instance's size between its services in the proportions of the spec's defaults."""
    default = spec.default_resources()
    limits = {}
    for name, service in spec.services.items():
        share = service.resources
        limits[name] = ResourceLimits(
            memory_mb=max(16, round(share.memory_mb * instance_limits.memory_mb / default.memory_mb)),
            cpus=max(0.01, round(share.cpus * instance_limits.cpus / default.cpus, 3)),
            pids=max(16, round(share.pids * instance_limits.pids / default.pids)),
        )
    return limits


def instance_resources(instance: Instance) -> Resources:
    return Resources(memory_mb=instance.memory_mb, cpus=float(Decimal(instance.cpus)), pids=instance.pids)


def build_deployment(instance: Instance, spec: AppSpec | None = None) -> Deployment:
    spec = spec or get_app(instance.app)
    if not instance.subnet:
        raise ValueError(f"instance {instance.slug} has no subnet allocated")
    network = ipaddress.ip_network(instance.subnet)
    hosts = list(network.hosts())
    gateway = hosts[0]
    prefix = resource_prefix(instance.slug)
    order = spec.start_order()
    context = template_context(instance, spec)
    limits = service_limits(spec, instance_resources(instance))
    containers = []
    for index, name in enumerate(order):
        service = spec.services[name]
        probe = None
        if service.healthcheck:
            check = service.healthcheck
            probe = HealthProbe(
                http_path=check.http.path if check.http else None,
                http_port=(check.http.port or spec.entrypoint.port) if check.http else None,
                expect_status=tuple(check.http.expect_status) if check.http else (200,),
                expect_json_key=check.http.expect_json_key if check.http else None,
                command=tuple(render(a, context) for a in check.command) if check.command else None,
                interval_seconds=check.interval_seconds,
                timeout_seconds=check.timeout_seconds,
                retries=check.retries,
                start_period_seconds=check.start_period_seconds,
            )
        containers.append(ContainerSpec(
            service=name,
            name=f"{prefix}-{name}",
            # The images of the version the instance runs (an update changes `app_version`).
            image=resolve_image(service_image(spec, instance.app_version, name)),
            ip=str(hosts[index + 1]),
            limits=limits[name],
            command=tuple(render(a, context) for a in service.command) if service.command is not None else None,
            entrypoint=tuple(service.entrypoint) if service.entrypoint is not None else None,
            environment={k: render(v, context) for k, v in service.environment.items()},
            mounts=tuple(VolumeMount(volume=f"{prefix}-{m.name}", path=m.mount) for m in service.volumes),
            healthcheck=probe,
            depends_on=tuple(service.depends_on),
            user=service.user,
            capabilities=tuple(service.capabilities),
            read_only_root=service.read_only_root,
            tmpfs=tuple(TmpfsMount(path=t.path, size_mb=t.size_mb, executable=t.exec) for t in service.tmpfs),
        ))
    volumes = sorted({m.volume for c in containers for m in c.mounts})
    caches = sorted({f"{prefix}-{m.name}" for service in spec.services.values() for m in service.volumes if m.cache})
    return Deployment(
        instance_id=str(instance.id),
        slug=instance.slug,
        network=prefix,
        subnet=str(network),
        gateway=str(gateway),
        volumes=tuple(volumes),
        containers=tuple(containers),
        entrypoint_service=spec.entrypoint.service,
        entrypoint_port=spec.entrypoint.port,
        labels={"tenantry.slug": instance.slug, "tenantry.app": instance.app},
        host_ports=host_ports(spec),
        cloud_metadata=spec.network.cloud_metadata,
        cache_volumes=tuple(caches),
    )


def host_ports(spec: AppSpec) -> tuple[int, ...]:
    """The host's TCP ports the app's containers may open connections to."""
    ports = set(spec.network.host_ports)
    if spec.network.proxy:
        ports.add(int(settings.TENANTRY["PROXY_PORT"]))
        if settings.TENANTRY.get("TLS"):
            ports.add(int(settings.TENANTRY["PROXY_HTTPS_PORT"]))
    return tuple(sorted(ports))


def container_names(instance: Instance, spec: AppSpec | None = None) -> dict[str, str]:
    """{service: container name} as build_deployment names them, without rendering the app's
    settings (which reads the instance's secrets and domains): for passes over every instance."""
    spec = spec or get_app(instance.app)
    prefix = resource_prefix(instance.slug)
    return {name: f"{prefix}-{name}" for name in spec.start_order()}


def upstream_url(instance: Instance, spec: AppSpec | None = None) -> str:
    """The entrypoint's address as build_deployment gives it (`Deployment.upstream_url`),
    computed from the subnet alone: for passes over every instance."""
    spec = spec or get_app(instance.app)
    if not instance.subnet:
        raise ValueError(f"instance {instance.slug} has no subnet allocated")
    # Container n of the start order has the subnet's host address n + 1 (the first is the gateway).
    index = spec.start_order().index(spec.entrypoint.service) + 1
    address = ipaddress.ip_network(instance.subnet).network_address + 1 + index
    return f"http://{address}:{spec.entrypoint.port}"


def template_context(instance: Instance, spec: AppSpec, *, secrets: dict[str, str] | None = None) -> dict:
    """What `{{ … }}` in a spec may name (see catalog.templating.template_variables). `secrets`:
    the instance's generated secrets when the caller has read them already."""
    from tenantry.routing.selectors import public_host, public_url

    scheme = settings.TENANTRY["PUBLIC_SCHEME"]
    return {
        "instance": {"id": str(instance.id), "slug": instance.slug, "host": instance.host,
                     "url": instance.url, "public_host": public_host(instance), "public_url": public_url(instance),
                     "scheme": scheme, "secure": "true" if scheme == "https" else "false",
                     "app": instance.app, "admin_email": admin_email(instance),
                     # The team's zone: what the app's schedules run in (applied when it next starts).
                     "time_zone": instance.team.time_zone},
        "secrets": instance_secret_values(instance) if secrets is None else secrets,
        "services": {name: {"host": name} for name in spec.services},
    }


def admin_email(instance: Instance) -> str:
    """Whose address the app's own admin account gets: the person who created the instance, or
    (created through an API key) the team's first owner."""
    if instance.created_by.startswith("user:"):
        return instance.created_by.removeprefix("user:")
    owner = instance.team.memberships.filter(role="owner").order_by("created_at").select_related("user").first()
    return owner.user.email if owner else f"admin@{instance.host}"
