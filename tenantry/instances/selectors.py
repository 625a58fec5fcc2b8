"""Reads of instances and operations.

Scoped to the installation for now (the API's minimal token sees every instance); the accounts
issue adds the team as first argument, and every selector here gets it.
"""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from tenantry.core.errors import NotFound
from tenantry.instances.models import ACTIVE_OPERATION_STATUSES, Instance, Operation, Status


def instance_list(*, include_deleted: bool = False) -> QuerySet[Instance]:
    qs = Instance.objects.select_related("server").prefetch_related(
        Prefetch("operations", queryset=Operation.objects.filter(status__in=ACTIVE_OPERATION_STATUSES),
                 to_attr="active_operations"))
    return qs if include_deleted else qs.exclude(status=Status.DELETED)


def instance_get(*, ref: str) -> Instance:
    """By slug, or by id (which also finds deleted instances)."""
    qs = instance_list(include_deleted=True)
    instance = None
    try:
        instance = qs.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        instance = qs.filter(slug=ref).exclude(status=Status.DELETED).first()
    if instance is None:
        raise NotFound(f"No instance {ref!r}.", code="instance_not_found")
    return instance


def operation_list(*, instance: Instance, limit: int = 50) -> list[Operation]:
    return list(instance.operations.prefetch_related("steps").order_by("-created_at")[:limit])


def operation_get(*, operation_id: str) -> Operation:
    try:
        op = Operation.objects.select_related("instance").prefetch_related("steps").filter(
            pk=uuid.UUID(str(operation_id))).first()
    except ValueError:
        op = None
    if op is None:
        raise NotFound(f"No operation {operation_id!r}.", code="operation_not_found")
    return op
