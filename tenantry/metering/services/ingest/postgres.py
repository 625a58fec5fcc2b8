"""A batch on PostgreSQL in two statements (then the commit), whatever its size.

1. `read_context`: lock the team row (batches of one team then run one after the other, so two
   cannot both pass the order check with interleaved timestamps) and read the meters and the
   team's instances the batch names — one query.
2. `store`: one statement inserts the new rows from six arrays (`INSERT … SELECT FROM unnest …
   ON CONFLICT (team_id, transaction_id) DO NOTHING`: the unique index is probed once, by the
   insert) and, from the same snapshot (so before the insert), answers the transaction ids that
   were already stored and the latest stored timestamp of each stream the batch writes. The
   order check then runs in Python; a refusal rolls the batch back.

The arrays go as one text literal each: Django's psycopg cursor binds parameters on the client
and would quote a Python list element by element (that was a quarter of a batch's time), and
every element here is already checked text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance, Status
from tenantry.metering.models import Meter, UsageEvent
from tenantry.metering.services.ingest.items import Columns, MeterRef, Stream

# Only the models' own table names are formatted into the statements; every value is a parameter.
_EVENTS = UsageEvent._meta.db_table
_CONTEXT_SQL = f"""
WITH locked AS (SELECT id FROM {Team._meta.db_table} WHERE id = %(team)s FOR UPDATE)
SELECT 'team', id::text, NULL, NULL, NULL FROM locked
UNION ALL
SELECT 'meter', id::text, code, aggregation, internal FROM {Meter._meta.db_table} WHERE code = ANY(%(codes)s::text[])
UNION ALL
SELECT 'instance', id::text, slug, NULL, NULL FROM {Instance._meta.db_table}
 WHERE team_id = %(team)s AND status <> %(deleted)s AND (slug = ANY(%(refs)s::text[]) OR id = ANY(%(ids)s::uuid[]))
"""  # noqa: S608
# `locked` comes first in the UNION: the lock is taken before the other parts run. Each stream's
# head is one backward step of the (team, meter, instance, timestamp) index; the CASE keeps an
# index condition for both `instance_id = …` and `IS NULL`. The heads come first too: read
# before the insert runs, the index scan does not step over the batch's own new entries.
_STORE_SQL = f"""
WITH new AS (
  SELECT * FROM unnest(%(instances)s::text[], %(meters)s::text[], %(txns)s::text[], %(stamps)s::text[],
                       %(values)s::text[], %(keys)s::text[]) AS u(i, m, t, ts, v, k)
), inserted AS (
  INSERT INTO {_EVENTS} (team_id, instance_id, meter_id, transaction_id, timestamp, value, key, received_at)
  SELECT %(team)s, i::uuid, m::uuid, t, ts::timestamptz, v::numeric, k, %(now)s FROM new
  ON CONFLICT (team_id, transaction_id) DO NOTHING RETURNING transaction_id
)
SELECT 'head', s.m, s.i, CASE WHEN s.i IS NULL
  THEN (SELECT max(timestamp) FROM {_EVENTS} WHERE team_id = %(team)s AND meter_id = s.m::uuid AND instance_id IS NULL)
  ELSE (SELECT max(timestamp) FROM {_EVENTS} WHERE team_id = %(team)s AND meter_id = s.m::uuid
        AND instance_id = s.i::uuid) END
FROM unnest(%(stream_meters)s::text[], %(stream_instances)s::text[]) AS s(m, i)
UNION ALL
SELECT 'stored', t, NULL, NULL FROM new WHERE t NOT IN (SELECT transaction_id FROM inserted)
"""  # noqa: S608


def _quoted(items: Iterable[str]) -> str:
    """An array literal of strings that need no escaping (checked transaction ids, ids, ISO
    timestamps, decimals): each element quoted, so that even "NULL" stays text."""
    return '{"' + '","'.join(items) + '"}'


def _escaped(items: Iterable[str]) -> str:
    """An array literal of any strings (keys, codes, slugs): backslashes and double quotes
    escaped — looked for once in the whole column, as they are rare."""
    items = list(items)
    if "\\" not in (whole := "".join(items)) and '"' not in whole:
        return _quoted(items)
    return _quoted(item.replace("\\", "\\\\").replace('"', '\\"') for item in items)


def _optional(items: Iterable[str | None]) -> str:
    """An array literal of ids or NULLs (ids are hex and dashes: no quoting needed)."""
    return "{" + ",".join(item or "NULL" for item in items) + "}"


def _canonical_uuid(ref: str) -> bool:
    """An instance is named by its slug or by its id as the API shows it (lowercase, dashed)."""
    try:
        return str(uuid.UUID(ref)) == ref
    except ValueError:
        return False


def read_context(team: Team, codes: set[str], refs: set[str]) -> tuple[dict[str, MeterRef], dict[str, str]]:
    """Lock the team; its meters by code and its live instances (id as text) by slug and id."""
    meters: dict[str, MeterRef] = {}
    instances: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(_CONTEXT_SQL, {"team": team.pk, "codes": _escaped(codes), "refs": _escaped(refs),
                                      "ids": _optional(ref for ref in refs if _canonical_uuid(ref)),
                                      "deleted": Status.DELETED})
        for kind, row_id, name, aggregation, internal in cursor.fetchall():
            if kind == "meter":
                meters[name] = MeterRef(row_id, name, aggregation, internal)
            elif kind == "instance":
                instances[name] = instances[row_id] = row_id
    return meters, instances


def store(team: Team, batch: Columns) -> tuple[set[str], dict[Stream, datetime | None]]:
    """Insert what is new; the transaction ids that were already stored, and the stored head of
    each of the batch's streams as it was before the insert."""
    streams = sorted(batch.streams, key=str)
    params: dict[str, Any] = {
        "team": team.pk, "now": timezone.now(),
        "instances": _optional(batch.instance_ids), "meters": _optional(batch.meter_ids),
        "txns": _quoted(batch.transaction_ids), "stamps": _quoted(ts.isoformat() for ts in batch.timestamps),
        "values": _quoted(batch.values), "keys": _escaped(batch.keys),
        "stream_meters": _optional(m for m, _ in streams), "stream_instances": _optional(i for _, i in streams)}
    stored: set[str] = set()
    heads: dict[Stream, datetime | None] = {}
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SQL, params)
        for kind, ref, instance_id, latest in cursor.fetchall():
            if kind == "stored":
                stored.add(ref)
            else:
                heads[(ref, instance_id)] = latest
    return stored, heads
