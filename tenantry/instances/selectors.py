"""Reads of instances and operations, always scoped: the first argument is the team whose data
may be seen (`None` only in the operator_* functions, for the CLI and the admin)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db.models import Prefetch, QuerySet

from tenantry.accounts.models import Team
from tenantry.core.errors import NotFound
from tenantry.instances.models import ACTIVE_OPERATION_STATUSES, Instance, Operation, Status


def _instances(team: Team | None, *, include_deleted: bool, related: bool = True) -> QuerySet[Instance]:
    """`related`: join the server and team (callers of one instance use them; a page of the API's
    list does not, and each joined row costs two more model objects to build and track)."""
    qs = Instance.objects.prefetch_related(
        Prefetch("operations", queryset=Operation.objects.filter(status__in=ACTIVE_OPERATION_STATUSES),
                 to_attr="active_operations"))
    if related:  # (never select_related() without names: that joins every foreign key)
        qs = qs.select_related("server", "team")
    if team is not None:
        qs = qs.filter(team=team)
    return qs if include_deleted else qs.exclude(status=Status.DELETED)


def _get(qs: QuerySet[Instance], ref: str) -> Instance:
    """By slug, or by id (which also finds deleted instances)."""
    try:
        instance = qs.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        instance = qs.filter(slug=ref).exclude(status=Status.DELETED).first()
    if instance is None:
        raise NotFound(f"No instance {ref!r}.", code="instance_not_found")
    return instance


def instance_list(*, team: Team, only: Sequence[str] | None = None) -> QuerySet[Instance]:
    """`only`: the columns to load (a page of the API loads what it shows: a row's other columns,
    its options JSON and four more timestamps among them, were parsed, built and copied into
    its audit baseline for nothing)."""
    qs = _instances(team, include_deleted=False, related=False)
    return qs.only(*only) if only else qs


def instance_get(*, team: Team, ref: str) -> Instance:
    return _get(_instances(team, include_deleted=True), ref)


def operation_list(*, team: Team, instance: Instance, limit: int = 50) -> list[Operation]:
    return list(Operation.objects.filter(instance=instance, instance__team=team).prefetch_related("steps")
                .order_by("-created_at")[:limit])


def operation_get(*, team: Team, operation_id: str) -> Operation:
    return _operation(Operation.objects.filter(instance__team=team), operation_id)


def _operation(qs: QuerySet[Operation], operation_id: str) -> Operation:
    try:
        op = qs.select_related("instance").prefetch_related("steps").filter(pk=uuid.UUID(str(operation_id))).first()
    except ValueError:
        op = None
    if op is None:
        raise NotFound(f"No operation {operation_id!r}.", code="operation_not_found")
    return op


# --- the operator's view (CLI, admin): every team ---------------------------------------------
def operator_instance_list() -> QuerySet[Instance]:
    return _instances(None, include_deleted=False)


def operator_instance_get(*, ref: str) -> Instance:
    return _get(_instances(None, include_deleted=True), ref)


def operator_operation_list(*, instance: Instance, limit: int = 50) -> list[Operation]:
    return list(instance.operations.prefetch_related("steps").order_by("-created_at")[:limit])


def operator_operation_get(*, operation_id: str) -> Operation:
    return _operation(Operation.objects.all(), operation_id)
