"""Queue tasks of routing."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=2)
def republish_route_task(instance_id: str) -> None:
    from tenantry.routing.routes import republish_instance_route

    republish_instance_route(instance_id)


# Retried while the instance is busy with another operation (up to ~10 minutes).
@db_task(retries=40, retry_delay=15)
def readdress_task(instance_id: str) -> None:
    from tenantry.instances.address import instance_readdress

    instance_readdress(instance_id=instance_id, actor="system:domains")
