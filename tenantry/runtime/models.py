from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel


class Server(BaseModel):
    """A place instances run: one Docker engine today (named by its runtime backend alias)."""

    name = models.CharField(max_length=100, unique=True)
    backend = models.CharField(max_length=50, default="default",
                               help_text="Alias in settings.RUNTIME_BACKENDS")
    capacity = models.PositiveIntegerField(default=1000, help_text="Most instances placed here")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrphanResource(BaseModel):
    """A container, network or volume labelled with this installation whose instance the database
    does not know, as the reconciler first saw it. After a control-plane restore these are the
    instances created since the backup, with their customers' data: the reconciler removes them
    only once they stayed orphaned for the grace period (TENANTRY_ORPHAN_GRACE_DAYS), never
    on sight, and never when an operator kept them."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="orphans")
    kind = models.CharField(max_length=20)  # container / network / volume
    name = models.CharField(max_length=255)
    instance_ref = models.CharField(max_length=100, help_text="The instance id its label names")
    first_seen_at = models.DateTimeField()
    kept_at = models.DateTimeField(null=True, blank=True,
                                   help_text="Kept by an operator: never removed automatically")
    kept_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["instance_ref", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["server", "kind", "name"], name="orphan_resource_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"
