from __future__ import annotations

import uuid

from django.db import models


class BaseModel(models.Model):
    """UUID primary key (safe to show in URLs and labels) and timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """Who did what to which object; written by services, read by operators."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    # Who and from where (the request being served when the row was written; empty for workers).
    team_id = models.UUIDField(null=True, blank=True, db_index=True)
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # {"field": [before, after]} for updates, {"field": value} for creations, names only once anonymised.
    changes = models.JSONField(default=dict, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team_id", "-created_at"], name="audit_team_recent")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target_type}:{self.target_id}"


class KeyValue(models.Model):
    """Small durable bookkeeping (e.g. how far the proxy access log has been read)."""

    key = models.CharField(max_length=200, primary_key=True)
    value = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class IdempotencyRecord(models.Model):
    """The first answer to a request carrying an `Idempotency-Key`, replayed for repeats."""

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=100)  # who sent it (the API token)
    key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class RateLimitWindow(models.Model):
    """Requests counted in one fixed window for one caller (API key or IP address), when no Redis
    is configured: shared by every process through the database. Old windows are deleted."""

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=120)
    window = models.BigIntegerField()  # the window's start, in seconds since the epoch
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="rate_limit_window_unique")]
        indexes = [models.Index(fields=["window"], name="rate_limit_window_age")]

    def __str__(self) -> str:
        return f"{self.key}@{self.window}: {self.count}"
