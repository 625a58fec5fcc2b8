from __future__ import annotations

from tenantry.core.backends import load_backend
from tenantry.routing.backends.base import RoutingBackend


def routing() -> RoutingBackend:
    return load_backend("ROUTING_BACKENDS", "default")
