"""CPU time and memory per instance from the cgroup files of its containers (through the
runtime backend), never `docker stats` (~1 s per call here). CPU time is a counter per
container (its id is the epoch: a recreated container starts from zero); memory is a gauge,
written as an event of the time-weighted memory meter on each pass."""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from tenantry.core.backends import load_backend
from tenantry.instances.models import Instance
from tenantry.metering.collectors import CollectionReport
from tenantry.metering.meters import CPU, MEMORY, builtin_meters
from tenantry.metering.services.counters import counter_observe, gap_close, gap_open
from tenantry.metering.services.ingest import usage_record
from tenantry.runtime.backends.base import BackendError, ContainerUsage
from tenantry.runtime.models import Server

COLLECTOR = "resources"
NS = Decimal(1_000_000_000)


def collect_resources() -> CollectionReport:
    report = CollectionReport(collector=COLLECTOR)
    started = time.perf_counter()
    meters = builtin_meters()
    now = timezone.now()
    for server in Server.objects.filter(is_active=True):
        try:
            usage = load_backend("RUNTIME_BACKENDS", server.backend).container_usage()
        except (BackendError, OSError, ValueError) as exc:
            gap_open(collector=COLLECTOR, instance=None, error=f"server {server.name}: {exc}")
            report.gaps.append(str(exc))
            continue
        gap_close(collector=COLLECTOR, instance=None)
        by_instance: dict[str, list[ContainerUsage]] = defaultdict(list)
        for container in usage:
            by_instance[container.instance_id].append(container)
        for instance in Instance.objects.filter(server=server, id__in=[i for i in by_instance if i]):
            containers = by_instance[str(instance.id)]
            for container in containers:
                counter_observe(source=f"cpu:{container.container_id}", instance=instance, meter=meters[CPU],
                                raw=Decimal(container.cpu_ns) / NS, epoch=container.container_id, at=now)
            with transaction.atomic():
                usage_record(instance=instance, meter=meters[MEMORY], timestamp=now,
                             value=Decimal(sum(c.memory_bytes for c in containers)),
                             transaction_id=f"memory:{instance.id}:{now.isoformat()}")
            report.instances += 1
            report.events += 1 + len(containers)
    report.seconds = time.perf_counter() - started
    return report
