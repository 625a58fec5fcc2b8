"""Rollouts of a new app version to instances, and each team's maintenance window."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class MaintenanceWindow(BaseModel):
    """When a team accepts that its instances are updated (briefly unavailable): from
    `start_time` for `duration_minutes`, on `weekdays` (0 = Monday; empty = every day), in the
    team's `timezone`. A team without one accepts updates at any time."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="maintenance_window")
    weekdays = models.JSONField(default=list, blank=True)
    start_time = models.TimeField()
    duration_minutes = models.PositiveIntegerField()
    timezone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"maintenance window of {self.team_id}"

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        length = timedelta(minutes=self.duration_minutes)
        # A window that starts late in the evening is still open after midnight.
        for days_back in range(0, 1 + (self.duration_minutes - 1) // (24 * 60) + 1):
            day = local.date() - timedelta(days=days_back)
            start = datetime.combine(day, self.start_time, tzinfo=local.tzinfo)
            if self.weekdays and start.weekday() not in self.weekdays:
                continue
            if start <= local < start + length:
                return True
        return False


class RolloutScope(models.TextChoices):
    INSTANCES = "instances", _("Chosen instances")
    PERCENT = "percent", _("A percentage of the instances")
    ALL = "all", _("Every instance")


class RolloutStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    HALTED = "halted", _("Stopped after failures")
    CANCELLED = "cancelled", _("Cancelled")


class Rollout(BaseModel):
    """An operator's decision to move instances of `app` to `to_version`. Its targets are
    chosen when it is created; they are updated a few at a time (`concurrency`), each in its
    team's maintenance window, and the rollout stops once more than `max_failures` failed."""

    app = models.CharField(max_length=40)
    to_version = models.CharField(max_length=40)
    scope = models.CharField(max_length=20, choices=RolloutScope.choices)
    percent = models.PositiveSmallIntegerField(null=True, blank=True)
    max_failures = models.PositiveIntegerField(default=0)
    concurrency = models.PositiveIntegerField(default=1)
    respect_windows = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=RolloutStatus.choices, default=RolloutStatus.RUNNING,
                              db_index=True)
    status_message = models.TextField(blank=True)
    actor = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.app} → {self.to_version} ({self.status})"


class TargetStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Updating")
    SUCCEEDED = "succeeded", _("Updated")
    ROLLED_BACK = "rolled_back", _("Failed, rolled back")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


FAILED_TARGET_STATUSES = (TargetStatus.ROLLED_BACK, TargetStatus.FAILED)


class RolloutTarget(models.Model):
    id = models.BigAutoField(primary_key=True)
    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="targets")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="rollout_targets")
    position = models.PositiveIntegerField()
    from_version = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=TargetStatus.choices, default=TargetStatus.PENDING)
    message = models.TextField(blank=True)
    operation = models.ForeignKey("instances.Operation", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="rollout_targets")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rollout", "position"]
        constraints = [models.UniqueConstraint(fields=["rollout", "instance"], name="rollout_target_unique")]

    def __str__(self) -> str:
        return f"{self.rollout_id}:{self.instance_id} ({self.status})"


class InstanceTemplate(models.Model):
    """Which version of a catalog template (a workflow) an instance runs, and the definition it
    had before the last push, kept for a rollback. A template's version is a digest of its file."""

    id = models.BigAutoField(primary_key=True)
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=100)
    workflow_id = models.CharField(max_length=64)
    version = models.CharField(max_length=16)
    previous_version = models.CharField(max_length=16, blank=True)
    previous_definition = models.JSONField(null=True, blank=True)
    updated_by = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["instance", "name"]
        constraints = [models.UniqueConstraint(fields=["instance", "name"], name="instance_template_unique")]

    def __str__(self) -> str:
        return f"{self.instance_id}:{self.name}@{self.version}"
