from __future__ import annotations

import pytest
from django.conf import settings

from tenantry.runtime.backends.docker import DockerRuntime


@pytest.fixture()
def runtime(docker_client):
    """The Docker backend of this run's installation; whatever a test made with it is removed after."""
    backend = DockerRuntime(installation_id=settings.TENANTRY["INSTALLATION_ID"])
    yield backend
    backend.remove_resources(backend.list_managed())
    backend.close()
