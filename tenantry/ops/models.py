"""What the operator's monitoring counts and no other table records."""

from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel


class WebhookRejection(BaseModel):
    """An inbound webhook refused (bad signature, unknown provider). One row per refusal, so that
    `/metrics` counts them across every web process; a counter never goes down, so rows are kept."""

    source = models.CharField(max_length=20, db_index=True)
    reason = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"
