from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel


class ApiToken(BaseModel):
    """A bearer token for the REST API. Only a hash is stored; the token is shown once.

    Minimal on purpose: teams, roles and scopes arrive with the accounts issue.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed = models.CharField(max_length=64)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
