"""The rules of a ticket's life: which status may follow which, who may set it, what a plan's
service level is, and which files may be attached."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath
from typing import Any

from django.conf import settings

from tenantry.accounts.models import Team
from tenantry.core.errors import ValidationError
from tenantry.support.models import Priority, TicketStatus

S = TicketStatus


def support_conf() -> dict[str, Any]:
    return settings.TENANTRY_SUPPORT
TRANSITIONS: dict[str, set[str]] = {
    S.OPEN: {S.IN_PROGRESS, S.WAITING, S.RESOLVED, S.CLOSED},
    S.IN_PROGRESS: {S.OPEN, S.WAITING, S.RESOLVED, S.CLOSED},
    S.WAITING: {S.OPEN, S.IN_PROGRESS, S.RESOLVED, S.CLOSED},
    S.RESOLVED: {S.OPEN, S.IN_PROGRESS, S.CLOSED},
    S.CLOSED: set(),  # final: a new question is a new ticket
}
# What a customer may do to their own ticket: mark it solved, close it, or reopen a resolved one.
CUSTOMER_STATUSES = {S.RESOLVED, S.CLOSED, S.OPEN}


def allowed_next(status: str) -> list[str]:
    return [s for s in TicketStatus.values if s in TRANSITIONS[status]]


@dataclass(frozen=True)
class Sla:
    first_response: timedelta
    resolution: timedelta
    priority_support: bool


def team_plan(team: Team):  # -> Plan | None
    from tenantry.billing.entitlements import LIVE_SUBSCRIPTION_STATUSES
    from tenantry.billing.models import Subscription

    subscription = (Subscription.objects.filter(team=team, status__in=LIVE_SUBSCRIPTION_STATUSES)
                    .select_related("plan").first())
    return subscription.plan if subscription else None


def team_sla(team: Team) -> Sla:
    """The plan's own SLA row, else the installation's defaults (priority support or not)."""
    from tenantry.support.models import PlanSla

    conf = support_conf()
    plan = team_plan(team)
    priority = bool(plan and plan.priority_support)
    row = PlanSla.objects.filter(plan=plan).first() if plan else None
    if row is not None:
        return Sla(timedelta(minutes=row.first_response_minutes), timedelta(minutes=row.resolution_minutes), priority)
    prefix = "PRIORITY_SLA_" if priority else "SLA_"
    return Sla(timedelta(minutes=conf[prefix + "FIRST_RESPONSE_MINUTES"]),
               timedelta(minutes=conf[prefix + "RESOLUTION_MINUTES"]), priority)


def default_priority(sla: Sla) -> str:
    """High on plans with priority support, as the pricing seed says; normal otherwise."""
    return Priority.HIGH if sla.priority_support else Priority.NORMAL


# --- attachments ----------------------------------------------------------------------------------
# Files whose first bytes must say what the extension claims (a browser would render them).
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"), "pdf": (b"%PDF-",), "zip": (b"PK\x03\x04", b"PK\x05\x06"),
}
_TYPES = {"log": "text/plain", "json": "application/json", "csv": "text/csv", "webp": "image/webp"}


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes = b""


def clean_filename(name: str) -> str:
    base = PurePath(name.replace("\\", "/")).name.strip().replace("\x00", "")
    return "".join(c for c in base if c.isprintable())[:200] or "attachment"


def _too_large(name: str) -> ValidationError:
    limit = support_conf()["MAX_ATTACHMENT_BYTES"]
    shown = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} kB"
    return ValidationError(f"{name} is too large: at most {shown} per file.", code="attachment_too_large",
                           details={"field": "attachments", "filename": name, "max_bytes": limit})


def check_attachments(uploads: list[Upload]) -> list[tuple[str, str]]:
    """(clean filename, content type) per upload, or `attachment_too_large` /
    `attachment_type_refused` / `too_many_attachments` (422) naming the file."""
    conf = support_conf()
    if len(uploads) > conf["MAX_ATTACHMENTS"]:
        raise ValidationError(f"At most {conf['MAX_ATTACHMENTS']} files per message.", code="too_many_attachments",
                              details={"field": "attachments", "max": conf["MAX_ATTACHMENTS"]})
    checked = []
    for upload in uploads:
        name = clean_filename(upload.filename)
        if len(upload.content) > conf["MAX_ATTACHMENT_BYTES"]:
            raise _too_large(name)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        magic = _MAGIC.get(extension)
        if extension not in conf["ALLOWED_EXTENSIONS"] or (magic and not upload.content.startswith(magic)):
            raise ValidationError(
                f"{name}: this type of file cannot be attached (allowed: {', '.join(conf['ALLOWED_EXTENSIONS'])}).",
                code="attachment_type_refused",
                details={"field": "attachments", "filename": name, "allowed": conf["ALLOWED_EXTENSIONS"]})
        content_type = _TYPES.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        checked.append((name, content_type))
    return checked


def uploads_from_files(files: list) -> list[Upload]:
    """Django's uploaded files as Uploads; an oversized one is refused before it is read."""
    conf = support_conf()
    uploads = []
    for f in files or []:
        if f.size > conf["MAX_ATTACHMENT_BYTES"]:
            raise _too_large(clean_filename(f.name or ""))
        uploads.append(Upload(filename=f.name or "", content=f.read()))
    return uploads
