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
