"""Backup and restore-drill series for `/metrics` (tenantry.ops.metrics calls `collect`): computed
from the database at scrape time like every other series."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Max
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def collect() -> Iterator[Any]:
    from tenantry.backups.models import Backup, BackupStatus, DrillStatus, RestoreDrill

    failed = CounterMetricFamily("tenantry_backups_failed", "Backups that failed (of any kind), by app",
                                 labels=["app"])
    for group in (Backup.objects.filter(status=BackupStatus.FAILED).values("app").annotate(n=Count("id"))
                  .order_by("app")):
        failed.add_metric([group["app"]], group["n"])
    yield failed

    drills = CounterMetricFamily("tenantry_restore_drills", "Restore drills by result", labels=["result"])
    counts = dict(RestoreDrill.objects.exclude(status=DrillStatus.RUNNING).values_list("status")
                  .annotate(n=Count("id")).order_by())
    for result in (DrillStatus.PASSED, DrillStatus.FAILED):
        drills.add_metric([result], counts.get(result, 0))
    yield drills

    verified = GaugeMetricFamily("tenantry_instance_last_verified_restore_timestamp_seconds",
                                 "When the instance's latest passed restore drill ended (Unix time)",
                                 labels=["slug", "team"])
    for row in (RestoreDrill.objects.filter(status=DrillStatus.PASSED).values("instance__slug", "team__slug")
                .annotate(last=Max("completed_at")).order_by("instance__slug")):
        if row["last"] is not None:
            verified.add_metric([row["instance__slug"], row["team__slug"]], row["last"].timestamp())
    yield verified
