from __future__ import annotations

import uuid

from django.db import models


def _public_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Event(models.Model):
    """Something that happened, written in the transaction that made it happen (an outbox):
    consumers (notifications, webhooks) read it once that transaction has committed."""

    # Sequential: consumers take events in this order, which keeps a webhook endpoint's
    # deliveries in the order things happened.
    id = models.BigAutoField(primary_key=True)
    public_id = models.CharField(max_length=40, unique=True, default=_public_id, editable=False)
    type = models.CharField(max_length=64, db_index=True)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="events")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # A consumer failed on this event alone (a bug): it was set aside so that it does not hold up
    # every later event; the error is here and in the log.
    dispatch_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["dispatched_at", "id"], name="event_undispatched_idx")]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"

    def envelope(self) -> dict:
        """What a webhook receiver gets (Standard Webhooks' recommended shape)."""
        return {"id": self.public_id, "type": self.type,
                "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
                "team": str(self.team_id) if self.team_id else None, "data": self.data}
