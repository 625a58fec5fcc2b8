"""n8n executions (already copied into automations.ExecutionRecord each minute) as events of
the `executions` meter: one per execution, its transaction id derived from the record, so a
pass that re-reads records (the overlap below, or a restart) never counts one twice."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils.dateparse import parse_datetime

from tenantry.automations.models import ExecutionRecord
from tenantry.core.models import KeyValue
from tenantry.metering.collectors import CollectionReport
from tenantry.metering.meters import EXECUTIONS, builtin_meters
from tenantry.metering.services.ingest import usage_record

COLLECTOR = "executions"
_CURSOR = "metering.executions.cursor"
# Records changed in the same instant as the cursor, or committed late by a concurrent sync.
_OVERLAP = timedelta(minutes=5)


@transaction.atomic
def collect_executions(*, batch: int = 5000) -> CollectionReport:
    report = CollectionReport(collector=COLLECTOR)
    started = time.perf_counter()
    cursor, _ = KeyValue.objects.select_for_update().get_or_create(key=_CURSOR, defaults={"value": {}})
    # By last change, not by creation: n8n lists a queued run without its start, and the sync that
    # later fills the start must bring it back here. ("created_at": the cursor of older releases.)
    mark = cursor.value.get("updated_at") or cursor.value.get("created_at")
    since = parse_datetime(mark) if mark else None
    meter = builtin_meters()[EXECUTIONS]
    records = ExecutionRecord.objects.filter(started_at__isnull=False).select_related("instance").order_by("updated_at")
    if since is not None:
        records = records.filter(updated_at__gte=since - _OVERLAP)
    last = None
    instances = set()
    for record in records[:batch]:
        if usage_record(instance=record.instance, meter=meter, value=Decimal(1), timestamp=record.started_at,
                        transaction_id=f"exec:{record.pk}"):
            report.events += 1
            instances.add(record.instance_id)
        last = record.updated_at
    if last is not None:
        cursor.value = {"updated_at": last.isoformat()}
        cursor.save(update_fields=["value", "updated_at"])
    report.instances = len(instances)
    report.seconds = time.perf_counter() - started
    return report
