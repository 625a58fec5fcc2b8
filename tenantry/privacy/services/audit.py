"""The audit trail's retention (anonymise old rows) and its CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenantry.core.models import AuditEvent

ANONYMOUS = "anonymised"
CSV_COLUMNS = ["id", "created_at", "actor", "action", "target_type", "target_id", "team_id", "ip", "user_agent",
               "changes", "data"]
_BATCH = 500


def _personal_actor(actor: str) -> bool:
    return actor.startswith("user:")


@transaction.atomic
def _anonymise_rows(ids: list[int], now: datetime) -> int:
    count = 0
    for row in AuditEvent.objects.select_for_update().filter(pk__in=ids):
        row.ip = None
        row.user_agent = ""
        row.actor_user_id = None
        if _personal_actor(row.actor):
            row.actor = ANONYMOUS
        row.changes = {name: None for name in row.changes}  # which fields, not their values
        row.data = {name: None for name in row.data}
        row.anonymised_at = now
        row.save(update_fields=["ip", "user_agent", "actor_user_id", "actor", "changes", "data", "anonymised_at"])
        count += 1
    return count


def audit_anonymise_expired(*, now: datetime | None = None, days: int | None = None) -> int:
    """Rows older than the retention lose who did it and from where (`AUDIT_RETENTION_DAYS`)."""
    now = now or timezone.now()
    days = settings.TENANTRY["AUDIT_RETENTION_DAYS"] if days is None else days
    cutoff = now - timedelta(days=days)
    total = 0
    while True:
        ids = list(AuditEvent.objects.filter(created_at__lt=cutoff, anonymised_at__isnull=True)
                   .order_by("id").values_list("id", flat=True)[:_BATCH])
        if not ids:
            return total
        total += _anonymise_rows(ids, now)


def audit_forget_user(*, user_id: int, email: str, replacement: str) -> int:
    """An erased user's rows: their actor name, IP and user agent go; what they did stays."""
    rows = AuditEvent.objects.filter(Q(actor_user_id=user_id) | Q(actor=f"user:{email}"))
    count = rows.update(actor=replacement, actor_user_id=None, ip=None, user_agent="")
    # Rows naming them in their data (a membership removed, an invitation sent to them).
    for row in AuditEvent.objects.filter(Q(data__icontains=email) | Q(changes__icontains=email)):
        row.data = _scrub(row.data, email, replacement)
        row.changes = _scrub(row.changes, email, replacement)
        row.save(update_fields=["data", "changes"])
        count += 1
    return count


def _scrub(value: object, email: str, replacement: str) -> object:
    if isinstance(value, str):
        return value.replace(email, replacement) if email.lower() in value.lower() else value
    if isinstance(value, list):
        return [_scrub(v, email, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, email, replacement) for k, v in value.items()}
    return value


def audit_csv(rows: Iterable[AuditEvent]) -> Iterator[str]:
    """CSV lines (header first), for a streaming response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for row in rows:
        writer.writerow([row.pk, row.created_at.isoformat(), _cell(row.actor), row.action, row.target_type,
                         row.target_id, row.team_id or "", row.ip or "", _cell(row.user_agent),
                         json.dumps(row.changes, sort_keys=True), json.dumps(row.data, sort_keys=True)])
        yield flush()


def _cell(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: a user agent is attacker-chosen."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
