"""Attachment files, kept under the data directory like invoices and backups:
`<data>/support/<ticket id>/<attachment id>`; the database row holds name, type, size, sha256."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from django.conf import settings

from tenantry.support.models import TicketAttachment, TicketMessage
from tenantry.support.policy import Upload, check_attachments


def _root() -> Path:
    return Path(settings.DATA_DIR)


def store_attachments(message: TicketMessage, uploads: list[Upload], written: list[Path]) -> list[TicketAttachment]:
    """Write each file and its row (in the caller's transaction). `written` collects the paths so
    the caller can remove them if the transaction fails: nothing half-created."""
    checked = check_attachments(uploads)
    rows = []
    for upload, (name, content_type) in zip(uploads, checked, strict=True):
        attachment_id = uuid.uuid4()
        relative = Path("support") / str(message.ticket_id) / str(attachment_id)
        path = _root() / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(upload.content)
        tmp.rename(path)
        written.append(path)
        rows.append(TicketAttachment.objects.create(
            id=attachment_id, message=message, filename=name, content_type=content_type, size=len(upload.content),
            sha256=hashlib.sha256(upload.content).hexdigest(), path=str(relative)))
    return rows


def discard(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def attachment_path(attachment: TicketAttachment) -> Path:
    path = (_root() / attachment.path).resolve()
    if not path.is_relative_to(_root().resolve()):  # a row never points outside; belt and braces
        raise FileNotFoundError(attachment.path)
    return path
