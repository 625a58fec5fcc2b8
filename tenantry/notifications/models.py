from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel


class Notification(BaseModel):
    """One message in a person's in-app notification centre."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="notifications")
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="notifications")
    event = models.ForeignKey("events.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event_type = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)  # a dashboard path
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"


class NotificationPreference(models.Model):
    """A person's choice for one optional kind of message; no row: both channels on."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="notification_preferences")
    event_type = models.CharField(max_length=64)
    email = models.BooleanField(default=True)
    in_app = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event_type"], name="notification_pref_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.event_type}"
