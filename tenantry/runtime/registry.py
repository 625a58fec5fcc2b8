from __future__ import annotations

from tenantry.core.backends import load_backend
from tenantry.runtime.backends.base import RuntimeBackend
from tenantry.runtime.models import Server


def runtime_for(server: Server) -> RuntimeBackend:
    return load_backend("RUNTIME_BACKENDS", server.backend)
