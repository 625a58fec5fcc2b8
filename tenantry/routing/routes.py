"""Keeping an instance's published route in step with its host names (custom domains)."""

from __future__ import annotations

from tenantry.instances.models import Instance, Status
from tenantry.routing.backends.base import Route
from tenantry.routing.registry import routing
from tenantry.routing.selectors import route_hosts


def republish_instance_route(instance_id: str) -> Route | None:
    """Publish the instance's route again with its current hosts (and rate limit, while a traffic
    quota throttles it), keeping where it points (the app or the edge). An instance with no route
    yet gets it from its next operation."""
    instance = Instance.objects.filter(pk=instance_id).exclude(status=Status.DELETED).first()
    if instance is None:
        return None
    backend = routing()
    current = backend.current(str(instance.pk))
    if current is None:
        return None
    from tenantry.metering.services.enforcement import instance_rate_limit  # metering reads routing

    rate_limit = instance_rate_limit(str(instance.pk)) if current.upstream else None
    route = Route(key=current.key, hosts=route_hosts(instance), upstream=current.upstream, rate_limit=rate_limit)
    if route != current:
        backend.publish(route)
        backend.wait_applied(route)
    return route
