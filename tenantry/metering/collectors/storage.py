"""Storage per instance: the bytes its volumes use, measured by the runtime backend (the
engine's disk usage report). Daily at 04:00 and on demand; a gauge, so each measurement is an
event of the `latest` storage meter."""

from __future__ import annotations

import time
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from tenantry.core.backends import load_backend
from tenantry.instances.models import Instance, Status
from tenantry.metering.collectors import CollectionReport
from tenantry.metering.meters import STORAGE, builtin_meters
from tenantry.metering.services.counters import gap_close, gap_open
from tenantry.metering.services.ingest import usage_record
from tenantry.runtime.backends.base import BackendError
from tenantry.runtime.models import Server

COLLECTOR = "storage"
# Instances whose volumes exist (a stopped or hibernated instance still stores its data).
MEASURED = [Status.RUNNING, Status.STOPPED, Status.HIBERNATED, Status.SUSPENDED, Status.STOPPING, Status.WAKING,
            Status.PROVISIONING, Status.FAILED]


def collect_storage(*, instance_ids: list[str] | None = None) -> CollectionReport:
    report = CollectionReport(collector=COLLECTOR)
    started = time.perf_counter()
    meter = builtin_meters()[STORAGE]
    now = timezone.now()
    for server in Server.objects.filter(is_active=True):
        measured = Instance.objects.filter(server=server, status__in=MEASURED)
        if instance_ids is not None:
            measured = measured.filter(id__in=instance_ids)
        instances = list(measured)
        if not instances:
            continue
        try:
            usage = load_backend("RUNTIME_BACKENDS", server.backend).volume_usage()
        except BackendError as exc:
            gap_open(collector=COLLECTOR, instance=None, error=f"server {server.name}: {exc}")
            report.gaps.append(str(exc))
            continue
        gap_close(collector=COLLECTOR, instance=None)
        for instance in instances:
            # The engine's report was read: an instance absent from it has no volume, which is a
            # true zero (unlike a report that could not be read, which is a gap).
            with transaction.atomic():
                usage_record(instance=instance, meter=meter, value=Decimal(usage.get(str(instance.id), 0)),
                             timestamp=now, transaction_id=f"storage:{instance.id}:{now.isoformat()}")
            report.instances += 1
            report.events += 1
    report.seconds = time.perf_counter() - started
    return report
