"""What the reconciler does with Docker resources labelled with this installation that belong to
no live instance.

Two kinds, decided apart because one of them holds customers' data:
- resources whose instance the database knows as deleted, or that name no instance at all (a probe
  left by a crash), hold nothing anyone will ask for: removed at once;
- resources whose instance the database does not know at all. After a control-plane restore these
  are the instances created since the backup, with their volumes (and, in their containers'
  environment, the generated keys that decrypt what the volumes hold). They are *marked*
  (OrphanResource, with when first seen), logged (`reconcile.orphan_marked`), listed by
  `tenantry orphans list` and the admin, and removed only once they stayed orphaned for
  TENANTRY_ORPHAN_GRACE_DAYS (7 by default), never in the pass that first saw them. An operator
  keeps them (`tenantry orphans keep`: never removed automatically) or purges them at once.

The pass stays cheap: it works on the server's one observation and adds one query for the marks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenantry.core.audit import audit_log
from tenantry.core.errors import Conflict, NotFound
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance, Status
from tenantry.runtime.backends.base import ManagedResource, Observation
from tenantry.runtime.models import OrphanResource, Server
from tenantry.runtime.registry import runtime_for

log = get_logger(__name__)


@dataclass
class OrphanPass:
    """One server's orphans as a pass sees them (what it did, or would do with --dry-run)."""

    removed: list[ManagedResource] = field(default_factory=list)  # now: deleted instances, crash leftovers, grace over
    marked: list[ManagedResource] = field(default_factory=list)  # first seen in this pass
    waiting: list[tuple[ManagedResource, datetime]] = field(default_factory=list)  # with when they go
    kept: list[ManagedResource] = field(default_factory=list)  # an operator kept them


def grace_period() -> timedelta:
    return timedelta(days=float(settings.TENANTRY["ORPHAN_GRACE_DAYS"]))


def grace_text() -> str:
    return f"{float(settings.TENANTRY['ORPHAN_GRACE_DAYS']):g} days"


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def settle_orphans(server: Server, observation: Observation, *, dry_run: bool = False,
                   now: datetime | None = None) -> OrphanPass:
    """Decide, for each resource of the observation that no live instance owns, whether it goes
    now, is marked, or waits; then do it (unless dry_run)."""
    now = now or timezone.now()
    live = {str(pk) for pk in Instance.objects.exclude(status=Status.DELETED).values_list("pk", flat=True)}
    candidates = [r for r in observation.resources if r.instance_id not in live]
    marks = {(m.kind, m.name): m for m in OrphanResource.objects.filter(server=server)}
    ids = {parsed for r in candidates if r.instance_id and (parsed := _as_uuid(r.instance_id))}
    # Not live but in the database: deleted instances (their rows stay).
    deleted = {str(pk) for pk in Instance.objects.filter(pk__in=ids).values_list("pk", flat=True)} if ids else set()
    result = OrphanPass()
    expired: list[OrphanResource] = []
    for resource in candidates:
        if not resource.instance_id or resource.instance_id in deleted:
            result.removed.append(resource)
            continue
        mark = marks.pop((resource.kind, resource.name), None)
        if mark is None:
            result.marked.append(resource)
        elif mark.kept_at is not None:
            result.kept.append(resource)
        elif now >= mark.first_seen_at + grace_period():
            result.removed.append(resource)
            expired.append(mark)
        else:
            result.waiting.append((resource, mark.first_seen_at + grace_period()))
    if dry_run:
        return result
    # Marks whose resource went (removed by hand) or whose instance is known again (a newer restore).
    if marks:
        OrphanResource.objects.filter(pk__in=[m.pk for m in marks.values()]).delete()
    if result.marked:
        OrphanResource.objects.bulk_create(
            [OrphanResource(server=server, kind=r.kind, name=r.name, instance_ref=r.instance_id, first_seen_at=now)
             for r in result.marked], ignore_conflicts=True)
        for resource in result.marked:
            log.warning("reconcile.orphan_marked", kind=resource.kind, name=resource.name,
                        instance=resource.instance_id, remove_after=(now + grace_period()).isoformat())
    if result.removed:
        runtime_for(server).remove_resources(result.removed)
        for resource in result.removed:
            log.info("reconcile.orphan_removed", kind=resource.kind, name=resource.name,
                     instance=resource.instance_id)
        if expired:
            OrphanResource.objects.filter(pk__in=[m.pk for m in expired]).delete()
    return result


def orphans_list() -> list[OrphanResource]:
    return list(OrphanResource.objects.select_related("server"))


def _marks_of(instance_ref: str) -> list[OrphanResource]:
    marks = list(OrphanResource.objects.select_related("server").filter(instance_ref=instance_ref))
    if not marks:
        raise NotFound(f"No orphaned resource is marked for instance {instance_ref}.", code="orphan_not_found")
    return marks


@transaction.atomic
def orphans_keep(*, instance_ref: str, actor: str) -> list[OrphanResource]:
    """Keep every resource of this unknown instance: the reconciler never removes them (recover
    the data by hand, then purge)."""
    marks = _marks_of(instance_ref)
    now = timezone.now()
    for mark in marks:
        mark.kept_at, mark.kept_by = now, actor
        mark.save(update_fields=["kept_at", "kept_by", "updated_at"])
        audit_log(actor=actor, action="orphan.kept", target=mark, data={"kind": mark.kind, "name": mark.name})
    return marks


def orphans_purge(*, instance_ref: str, actor: str) -> list[OrphanResource]:
    """Remove every resource of this unknown instance now (its data is gone for good)."""
    marks = _marks_of(instance_ref)
    parsed = _as_uuid(instance_ref)
    if parsed and Instance.objects.filter(pk=parsed).exclude(status=Status.DELETED).exists():
        # The database knows it again (a newer restore): these are a live instance's resources.
        raise Conflict(f"Instance {instance_ref} exists: its resources are not orphans.", code="orphan_is_live")
    for server in {mark.server for mark in marks}:
        runtime_for(server).remove_resources(
            [ManagedResource(m.kind, m.name, m.instance_ref) for m in marks if m.server == server])
    for mark in marks:
        audit_log(actor=actor, action="orphan.purged", target=mark, data={"kind": mark.kind, "name": mark.name})
        log.info("orphan.purged", kind=mark.kind, name=mark.name, instance=instance_ref, actor=actor)
    OrphanResource.objects.filter(pk__in=[m.pk for m in marks]).delete()
    return marks
