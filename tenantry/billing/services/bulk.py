"""One UPDATE per batch for rows that each get their own values.

Django's bulk_update builds a CASE WHEN per field and row, which costs more to compile in Python
than the whole rest of a billing run; on PostgreSQL an `UPDATE … FROM (VALUES …)` does the same in
one cheap statement. Other databases use bulk_update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def bulk_set(objs: Sequence[models.Model], field_names: Sequence[str], *, chunk: int = 1000) -> None:
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, list(field_names), batch_size=chunk)
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    fields: list[Any] = [meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    columns: list[str] = [str(pk.column), *(f.column for f in fields)]
    casts = [str(pk.db_type(connection)), *(str(f.db_type(connection)) for f in fields)]
    assignments = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns[1:])
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(objs), chunk):
            part = objs[start:start + chunk]
            params: list[Any] = []
            for obj in part:
                params.append(pk.get_db_prep_save(obj.pk, connection))
                params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)
            # Identifiers come from the model's metadata (quoted); every value is a parameter.
            values = ", ".join([row] * len(part))
            names = ", ".join(quote(c) for c in columns)
            sql = (f"UPDATE {quote(str(meta.db_table))} AS t SET {assignments} "  # noqa: S608
                   f"FROM (VALUES {values}) AS v({names}) WHERE t.{quote(str(pk.column))} = v.{quote(str(pk.column))}")
            cursor.execute(sql, params)
