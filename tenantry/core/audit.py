from __future__ import annotations

from typing import Any

from django.db import models

from tenantry.core.models import AuditEvent


def audit_log(*, actor: str, action: str, target: models.Model, data: dict[str, Any] | None = None) -> AuditEvent:
    """Record an action in the audit trail (inside the caller's transaction)."""
    return AuditEvent.objects.create(
        actor=actor or "system",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )
