"""The reconciler's shortcuts (container names and upstream computed without rendering an
app's settings) must say exactly what build_deployment says, for every app of the catalog."""

from __future__ import annotations

import pytest

from tenantry.accounts.services.teams import operator_team
from tenantry.catalog.registry import get_app
from tenantry.instances.deployment import build_deployment, container_names, upstream_url
from tenantry.instances.models import Instance
from tenantry.instances.secrets import create_instance_secrets
from tenantry.runtime.placement import default_server

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("app", ["hello", "n8n", "n8n-postgres", "wordpress", "erpnext", "twotier"])
def test_container_names_and_upstream_match_the_deployment(app):
    spec = get_app(app)
    instance = Instance.objects.create(team=operator_team(), slug=f"shape-{app}", app=app, app_version=spec.version,
                                       server=default_server(), subnet="10.9.8.32/27", memory_mb=2048, cpus=2,
                                       pids=1024)
    create_instance_secrets(instance, spec.secrets)
    deployment = build_deployment(instance)
    assert container_names(instance) == {c.service: c.name for c in deployment.containers}
    assert upstream_url(instance) == deployment.upstream_url
    assert len(deployment.containers) == len(spec.services) >= 1
