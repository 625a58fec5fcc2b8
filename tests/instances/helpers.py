from __future__ import annotations

from tenantry.accounts.models import Team
from tenantry.accounts.services.teams import operator_team
from tenantry.instances import services
from tenantry.instances.models import Instance, Operation


def create(slug: str, app: str = "hello", team: Team | None = None, **kwargs) -> tuple[Instance, Operation]:
    team = team or operator_team()
    instance, operation = services.instance_create(team=team, slug=slug, app=app, actor="test", **kwargs)
    instance.refresh_from_db()
    operation.refresh_from_db()
    return instance, operation


def fresh(instance: Instance) -> Instance:
    instance.refresh_from_db()
    return instance


def last_operation(instance: Instance) -> Operation:
    return instance.operations.order_by("-created_at").first()
