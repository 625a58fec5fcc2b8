"""Readiness probes, run from the control plane against a container's private address."""

from __future__ import annotations

import json

import requests

from tenantry.instances.tenant_http import tenant_session
from tenantry.runtime.backends.base import ContainerSpec, HealthProbe

_session = tenant_session()  # no redirects followed, no environment proxy


def http_ready(container: ContainerSpec, probe: HealthProbe) -> tuple[bool, str]:
    """(ready, why-not) for an HTTP probe."""
    url = f"http://{container.ip}:{probe.http_port}{probe.http_path}"
    try:
        response = _session.get(url, timeout=min(probe.timeout_seconds, 5))
    except requests.RequestException as exc:
        return False, f"{url}: {exc.__class__.__name__}"
    if response.status_code not in probe.expect_status:
        return False, f"{url}: HTTP {response.status_code}"
    if probe.expect_json_key:
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            return False, f"{url}: not JSON yet"
        if not isinstance(body, dict) or probe.expect_json_key not in body:
            return False, f"{url}: no {probe.expect_json_key!r} in the answer yet"
    return True, ""
