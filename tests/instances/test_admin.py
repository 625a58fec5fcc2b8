from __future__ import annotations

import pytest

from tenantry.instances.models import Operation, OperationStatus
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]


def test_operator_sees_instances_and_operations_and_retries_failures(platform, admin_client, settings):
    instance, _ = create("watched")
    assert b"watched" in admin_client.get("/admin/instances/instance/").content
    assert b"watched" in admin_client.get("/admin/instances/instance/?status__exact=running").content
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {"tenantry/hello:1": "tenantry/gone:1"}}
    from tenantry.instances import services

    services.instance_stop(instance=instance, actor="test")
    failed = services.instance_start(instance=fresh(instance), actor="test")
    failed.refresh_from_db()
    assert failed.status == OperationStatus.FAILED
    page = admin_client.get(f"/admin/instances/operation/{failed.pk}/change/")
    assert page.status_code == 200 and b"image_missing" in page.content
    settings.TENANTRY = {**settings.TENANTRY, "IMAGE_OVERRIDES": {}}
    response = admin_client.post("/admin/instances/operation/", {"action": "retry", "_selected_action": [failed.pk]},
                                 follow=True)
    assert b"Queued 1 retry" in response.content
    newest = Operation.objects.filter(instance=instance).order_by("-created_at").first()
    assert newest.pk != failed.pk and newest.status == OperationStatus.SUCCEEDED
    assert fresh(instance).status == "running"
