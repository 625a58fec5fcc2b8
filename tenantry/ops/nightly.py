"""The pricing seed's nightly jobs (their times: settings.TENANTRY_NIGHTLY, operator's clock).

02:00 hibernate  running instances without a request for HIBERNATE_IDLE_DAYS (default 5) days
03:00 clean-up   raw usage events past KEEP_USAGE_EVENTS_DAYS (their daily rollups stay),
                 collector gaps closed more than KEEP_CLOSED_GAPS_DAYS ago, sign-in links
                 expired more than KEEP_LOGIN_TICKETS_DAYS ago
04:00 storage    volumes and dumps measured (tenantry.metering.tasks.collect_storage_task)
05:00 add-ons    expired add-ons ended, instances shrunk (tenantry.billing.tasks.addons_expire_task)
06:00 limits     yesterday's rollups, then every team's quotas: threshold emails, policies

Each job is a plain function (the CLI and tests call them); tenantry/ops/tasks.py schedules them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.core.schedule import nightly_setting
from tenantry.instances.models import ACTIVE_OPERATION_STATUSES, Instance, Status

log = get_logger(__name__)
ACTOR = "nightly"


def hibernate_long_idle(*, now: datetime | None = None) -> list[str]:
    """Hibernate running instances nobody has visited for HIBERNATE_IDLE_DAYS days (the edge
    wakes them on the next request). An instance set to never hibernate (0) is left alone."""
    days = int(nightly_setting("HIBERNATE_IDLE_DAYS"))
    if days <= 0:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    from tenantry.instances.services import instance_hibernate

    candidates = (Instance.objects.filter(status=Status.RUNNING)
                  .exclude(hibernate_after_seconds=0)
                  .filter(Q(last_request_at__lt=cutoff) | Q(last_request_at__isnull=True))
                  .filter(Q(running_since__lt=cutoff) | Q(running_since__isnull=True))
                  .exclude(operations__status__in=ACTIVE_OPERATION_STATUSES).distinct().order_by("slug"))
    hibernated = []
    for instance in candidates:
        if instance.last_request_at is None and instance.running_since is None:
            continue  # never seen running: nothing says it is idle
        try:
            instance_hibernate(instance=instance, actor=ACTOR)
        except ApplicationError as exc:
            log.info("nightly.hibernate_skipped", instance=instance.slug, reason=exc.message)
            continue
        hibernated.append(instance.slug)
    log.info("nightly.hibernate", hibernated=len(hibernated), idle_days=days)
    return hibernated


def cleanup(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what nobody needs any more; returns how many of each were deleted."""
    from tenantry.automations.models import LoginTicket
    from tenantry.metering.models import CollectorGap, UsageEvent
    from tenantry.metering.services.rollups import rollup_day

    now = now or timezone.now()
    events_cutoff = now - timedelta(days=int(nightly_setting("KEEP_USAGE_EVENTS_DAYS")))
    old_events = UsageEvent.objects.filter(timestamp__lt=events_cutoff)
    # The daily rollups of those days are what stays: make sure they are written first.
    days = {moment.replace(hour=0, minute=0, second=0, microsecond=0)
            for moment in old_events.values_list("timestamp", flat=True).distinct()}
    for day in sorted(days):
        rollup_day(day)
    done = {"usage_events": old_events.delete()[0]}
    gaps_cutoff = now - timedelta(days=int(nightly_setting("KEEP_CLOSED_GAPS_DAYS")))
    done["collector_gaps"] = CollectorGap.objects.filter(ended_at__lt=gaps_cutoff).delete()[0]
    tickets_cutoff = now - timedelta(days=int(nightly_setting("KEEP_LOGIN_TICKETS_DAYS")))
    done["login_tickets"] = LoginTicket.objects.filter(expires_at__lt=tickets_cutoff).delete()[0]
    log.info("nightly.cleanup", **done)
    return done


def limit_checks(*, now: datetime | None = None) -> int:
    """Yesterday's daily rollups, then every team's quotas (threshold emails, policies)."""
    from tenantry.metering.services.quotas import quota_check_all
    from tenantry.metering.services.rollups import rollup_day

    now = now or timezone.now()
    rollup_day(now - timedelta(days=1))
    alerts = quota_check_all()
    log.info("nightly.limits", alerts=alerts)
    return alerts
