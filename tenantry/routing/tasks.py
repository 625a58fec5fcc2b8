"""Queue tasks of routing."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=2)
def republish_route_task(instance_id: str) -> None:
    from tenantry.routing.routes import republish_instance_route

    republish_instance_route(instance_id)
