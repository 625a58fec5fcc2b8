from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel


class TeamDeletion(BaseModel):
    """A team its owner deleted: its instances go at once, its backups and remaining data when
    `purge_after` (the backup retention) has passed; invoices stay (the law keeps them)."""

    team = models.OneToOneField("accounts.Team", on_delete=models.PROTECT, related_name="deletion")
    requested_by = models.CharField(max_length=200)
    purge_after = models.DateTimeField(db_index=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"deletion of {self.team_id}"
