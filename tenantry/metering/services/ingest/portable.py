"""A batch on other databases (SQLite): the same answers as the PostgreSQL statements, in a few
more queries (the stored ids, one per stream for the heads), none of them per item."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Field, Q
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance, Status
from tenantry.metering.models import Meter, UsageEvent
from tenantry.metering.services.ingest.items import Columns, MeterRef, Stream

_COLUMNS = ("team", "instance", "meter", "transaction_id", "timestamp", "value", "key", "received_at")


def read_context(team: Team, codes: set[str], refs: set[str]) -> tuple[dict[str, MeterRef], dict[str, str]]:
    """Lock the team (SQLite's writers are serialised by its IMMEDIATE transactions anyway); its
    meters by code and its live instances (id as text) by slug and id."""
    Team.objects.select_for_update().filter(pk=team.pk).first()
    meters = {m.code: MeterRef(str(m.pk), m.code, m.aggregation, m.internal)
              for m in Meter.objects.filter(code__in=codes)}
    ids = []
    for ref in refs:
        try:
            ids.append(uuid.UUID(ref))
        except ValueError:
            continue
    instances: dict[str, str] = {}
    found = Instance.objects.filter(team=team).exclude(status=Status.DELETED).filter(Q(slug__in=refs) | Q(id__in=ids))
    for instance_id, slug in found.values_list("id", "slug"):
        instances[slug] = instances[str(instance_id)] = str(instance_id)
    return meters, instances


def stored_ids(team: Team, batch: Columns) -> set[str]:
    return set(UsageEvent.objects.filter(team=team, transaction_id__in=batch.transaction_ids)
               .values_list("transaction_id", flat=True))


def heads(team: Team, streams: set[Stream]) -> dict[Stream, datetime | None]:
    """The latest stored timestamp of each stream: one index lookup per stream."""
    latest: dict[Stream, datetime | None] = {}
    for meter_id, instance_id in streams:
        same = UsageEvent.objects.filter(team=team, meter_id=meter_id)
        same = same.filter(instance_id=instance_id) if instance_id else same.filter(instance__isnull=True)
        latest[(meter_id, instance_id)] = same.order_by("-timestamp").values_list("timestamp", flat=True).first()
    return latest


_COLUMNS = ("team", "instance", "meter", "transaction_id", "timestamp", "value", "key", "received_at")


def insert(team: Team, batch: Columns, skipped: set[str]) -> int:
    """One prepared INSERT run for every new row (`executemany`: one statement, not one per
    row or per chunk), inside the batch's transaction; the rows written. Values go through each
    field's own conversion for this database, as the ORM's inserts do."""
    fields: dict[str, Field] = {name: UsageEvent._meta.get_field(name) for name in _COLUMNS}  # type: ignore[misc]

    def prep(name: str, value: Any) -> Any:
        return fields[name].get_db_prep_save(value, connection)

    ids: dict[str | None, Any] = {None: None}  # the batch's few meter and instance ids, converted once each
    for ref in {*batch.meter_ids, *batch.instance_ids} - {None}:
        ids[ref] = prep("meter", uuid.UUID(ref))
    team_id, now = prep("team", team.pk), prep("received_at", timezone.now())
    rows = [(team_id, ids[instance_id], ids[meter_id], txn, prep("timestamp", timestamp), prep("value", Decimal(value)),
             key, now)
            for meter_id, instance_id, txn, timestamp, value, key in zip(
                batch.meter_ids, batch.instance_ids, batch.transaction_ids, batch.timestamps, batch.values,
                batch.keys, strict=True)
            if txn not in skipped]
    if rows:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(f.column)) for f in fields.values())
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {quote(UsageEvent._meta.db_table)} ({columns}) "  # noqa: S608
                               f"VALUES ({', '.join(['%s'] * len(fields))})", rows)
    return len(rows)
