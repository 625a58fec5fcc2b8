"""Hibernation: stop instances nobody has visited for a while; the edge wakes them on demand.

Activity comes from the proxy's JSON access log (one line per request, with the router name),
read incrementally from where the last run stopped.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.core.models import KeyValue
from tenantry.instances.models import ACTIVE_OPERATION_STATUSES, Instance, Status
from tenantry.instances.services import instance_hibernate
from tenantry.routing.backends.traefik import TraefikRouting

log = get_logger(__name__)
_OFFSET_KEY = "traefik.access_log"
_MAX_BYTES_PER_RUN = 64 * 1024 * 1024


def access_log_path() -> Path:
    return Path(settings.TENANTRY["TRAEFIK_DIR"]) / "access.log"


def collect_proxy_activity(path: Path | None = None) -> dict[str, datetime]:
    """Read new access-log lines; record each instance's latest request. Returns what was seen."""
    path = path or access_log_path()
    if not path.exists():
        return {}
    bookmark, _ = KeyValue.objects.get_or_create(key=_OFFSET_KEY, defaults={"value": {}})
    stat = path.stat()
    offset = bookmark.value.get("offset", 0)
    if bookmark.value.get("inode") != stat.st_ino or offset > stat.st_size:
        offset = 0  # the log was rotated or truncated
    latest: dict[str, datetime] = {}
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read(_MAX_BYTES_PER_RUN)
    complete = chunk.rfind(b"\n") + 1  # leave a half-written last line for next time
    for raw in chunk[:complete].splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        key = TraefikRouting.key_from_router(entry.get("RouterName", ""))
        when = parse_datetime(entry.get("StartUTC", "") or "")
        if key and when and (key not in latest or when > latest[key]):
            latest[key] = when
    for key, when in latest.items():
        if not _is_uuid(key):
            continue  # a router that is not an instance's
        Instance.objects.filter(pk=key).filter(Q(last_request_at__isnull=True) | Q(last_request_at__lt=when)) \
            .update(last_request_at=when)
    bookmark.value = {"inode": stat.st_ino, "offset": offset + complete, "size": os.path.getsize(path)}
    bookmark.save()
    return latest


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _held_by_schedules(instance: Instance, now: datetime, idle: timedelta) -> bool:
    """Scheduled workflows: read the app's triggers afresh (the last chance while it runs), then
    keep it up if a run is due soon or has just happened."""
    from tenantry.automations.scheduling import schedule_holds_awake, schedules_sync_quietly
    from tenantry.catalog.registry import get_catalog

    spec = get_catalog().get(instance.app)
    if spec is None or spec.automation is None:
        return False
    schedules_sync_quietly(instance=instance)
    return schedule_holds_awake(instance=instance, now=now, idle=idle)


def idle_timeout(instance: Instance) -> int:
    if instance.hibernate_after_seconds is not None:
        return instance.hibernate_after_seconds
    return settings.TENANTRY["HIBERNATE_AFTER_SECONDS"]


def hibernate_idle_instances(now: datetime | None = None) -> list[str]:
    from tenantry.routing.registry import routing

    if not routing().reports_activity:
        # No visits are known (Caddy has no access log Tenantry reads yet): hibernating "idle"
        # instances would stop ones in use. Idle hibernation waits for a proxy that reports.
        log.info("hibernation.off", reason="the routing backend does not report visits")
        return []
    now = now or timezone.now()
    hibernated = []
    candidates = (Instance.objects.filter(status=Status.RUNNING)
                  .exclude(operations__status__in=ACTIVE_OPERATION_STATUSES))
    for instance in candidates:
        timeout = idle_timeout(instance)
        if timeout <= 0:
            continue
        last_seen = max(filter(None, [instance.last_request_at, instance.running_since]), default=None)
        if last_seen is None or now - last_seen < timedelta(seconds=timeout):
            continue
        if _held_by_schedules(instance, now, timedelta(seconds=timeout)):
            continue
        try:
            instance_hibernate(instance=instance, actor="hibernation")
            hibernated.append(instance.slug)
        except ApplicationError as exc:
            log.info("hibernation.skipped", instance=instance.slug, reason=exc.message)
    return hibernated
