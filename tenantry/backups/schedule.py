"""The periodic side of backup policies: scheduled backups when they are due, and pruning what
the retention no longer keeps (objects removed at the target first, then the row).

`tenantry.backups.tasks` runs both every 15 minutes; both take `now` so that tests freeze the clock.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenantry.backups import archive
from tenantry.backups.models import ROTATED_KINDS, Backup, BackupKind, BackupStatus
from tenantry.backups.policy import Policy, gfs_keep, policy_for
from tenantry.core.audit import audit_log
from tenantry.core.errors import ApplicationError
from tenantry.core.logging import get_logger
from tenantry.instances.models import Instance, Status
from tenantry.runtime.backends.base import BackendError

log = get_logger(__name__)
SCHEDULER = "scheduler:backups"
# A run every 15 minutes: a backup due within this slack is taken now rather than 15 minutes late.
SLACK = timedelta(minutes=10)
# Backups the schedule counts as "the last one" (a manual backup resets the clock too).
COUNTED_KINDS = (BackupKind.SCHEDULED, BackupKind.MANUAL)


def due_instances(now: datetime) -> list[Instance]:
    """Instances whose plan's interval has passed since their last backup (or that have none)."""
    from tenantry.backups.services import BACKUP_FROM

    instances = list(Instance.objects.filter(status__in=BACKUP_FROM, provisioned_at__isnull=False)
                     .exclude(created_by__startswith="drill:")  # restore drills' scratch copies
                     .select_related("team").order_by("created_at"))
    last: dict[str, datetime] = {}
    for instance_id, created in (Backup.objects.filter(instance__in=instances, kind__in=COUNTED_KINDS)
                                 .exclude(status=BackupStatus.FAILED)
                                 .values_list("instance_id", "created_at")):
        last[str(instance_id)] = max(created, last.get(str(instance_id), created))
    policies: dict[str, Policy] = {}
    due: list[tuple[datetime | None, Instance]] = []
    for instance in instances:
        policy = policies.setdefault(str(instance.team_id), policy_for(instance.team))
        if policy.interval_hours == 0:
            continue
        previous = last.get(str(instance.pk))
        if previous is None or now - previous >= timedelta(hours=policy.interval_hours) - SLACK:
            due.append((previous, instance))
    # Never backed up first, then the longest since their last (creation order breaks ties).
    due.sort(key=lambda pair: (pair[0] is not None, pair[0] or now))
    return [instance for _, instance in due]


def backups_schedule(*, now: datetime | None = None) -> dict[str, int]:
    """Start the scheduled backups that are due. A busy instance is skipped (the next run retries)."""
    from tenantry.backups.services import backup_create

    now = now or timezone.now()
    due = due_instances(now)
    # At most so many per run, the longest waiting first: a thousand instances created within a
    # quarter of an hour were all due in the same run (410 backups queued in 18 s in
    # bench/scale.py, taking the workers from everything else), and kept that shared phase every
    # day after. The rest are taken by the next runs, which spreads their phases (issue 15).
    limit = settings.TENANTRY["BACKUP_SCHEDULE_MAX_PER_RUN"]
    now_due = due[:limit] if limit > 0 else due
    counts = {"started": 0, "skipped": 0, "deferred": len(due) - len(now_due)}
    for instance in now_due:
        try:
            backup_create(instance=instance, actor=SCHEDULER, kind=BackupKind.SCHEDULED)
            counts["started"] += 1
        except ApplicationError as exc:  # busy, or changed state since it was listed
            log.info("backups.schedule_skipped", instance=instance.slug, code=exc.code)
            counts["skipped"] += 1
    return counts


def prunable(now: datetime) -> list[Backup]:
    """The backups the retention no longer keeps: rotated kinds per instance by the team's GFS
    policy; final backups once their instance is deleted and BACKUP_FINAL_KEEP_DAYS passed."""
    groups: dict[tuple[str, str], list[Backup]] = defaultdict(list)
    for backup in (Backup.objects.filter(status=BackupStatus.SUCCEEDED, kind__in=ROTATED_KINDS)
                   .select_related("team")):
        groups[(str(backup.team_id), backup.instance_slug)].append(backup)
    policies: dict[str, Policy] = {}
    doomed: list[Backup] = []
    for (team_id, _slug), backups in groups.items():
        policy = policies.setdefault(team_id, policy_for(backups[0].team))
        keep = gfs_keep([(str(b.pk), b.created_at) for b in backups], policy, now)
        doomed += [b for b in backups if str(b.pk) not in keep]
    final_cutoff = now - timedelta(days=settings.TENANTRY.get("BACKUP_FINAL_KEEP_DAYS", 30))
    doomed += list(Backup.objects.filter(Q(instance__isnull=True) | Q(instance__status=Status.DELETED),
                                         kind=BackupKind.FINAL, status=BackupStatus.SUCCEEDED,
                                         created_at__lt=final_cutoff))
    return doomed


def backups_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Remove what the retention no longer keeps: objects at the target, then the row (a target
    that fails leaves the row, retried at the next run)."""
    now = now or timezone.now()
    counts = {"pruned": 0, "errors": 0}
    for backup in prunable(now):
        try:
            archive.delete_objects(backup)
        except BackendError as exc:
            log.warning("backups.prune_failed", backup=str(backup.pk), error=exc.message)
            counts["errors"] += 1
            continue
        with transaction.atomic():
            audit_log(actor=SCHEDULER, action="backup.pruned", target=backup,
                      data={"instance": backup.instance_slug, "kind": backup.kind,
                            "created_at": backup.created_at.isoformat()})
            backup.delete()
        counts["pruned"] += 1
    return counts
