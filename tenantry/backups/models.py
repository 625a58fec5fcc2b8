from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class BackupKey(models.Model):
    """A team's backup encryption key (a Fernet key), itself encrypted with the installation's
    secrets keys (tenantry.core.crypto): a copy of the backups alone cannot be read."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="backup_key")
    ciphertext = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"backup key of {self.team_id}"


class BackupKind(models.TextChoices):
    MANUAL = "manual", _("On demand")
    SAFETY = "safety", _("Before a restore")
    SCHEDULED = "scheduled", _("Scheduled")
    PRE_UPDATE = "pre_update", _("Before an update")
    FINAL = "final", _("Final (before deletion or archiving)")


# Pruned by the plan's grandfather-father-son retention; on-demand backups stay until deleted,
# final ones for BACKUP_FINAL_KEEP_DAYS once their instance is gone.
ROTATED_KINDS = (BackupKind.SCHEDULED, BackupKind.SAFETY, BackupKind.PRE_UPDATE)


class BackupStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Backup(BaseModel):
    """One backup of one instance: an archive per volume at a target, described by `manifest`
    (`{"volumes": [{"name", "key", "size", "sha256", "tar_size", "tar_sha256"}], "values": {...}}`)."""

    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="backups")
    instance = models.ForeignKey("instances.Instance", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="backups")
    # Kept on the backup itself: it outlives the instance (restore to a new instance).
    instance_slug = models.SlugField(max_length=40)
    app = models.CharField(max_length=40)
    app_version = models.CharField(max_length=40, blank=True)
    kind = models.CharField(max_length=20, choices=BackupKind.choices, default=BackupKind.MANUAL)
    status = models.CharField(max_length=20, choices=BackupStatus.choices, default=BackupStatus.PENDING,
                              db_index=True)
    target = models.CharField(max_length=40, help_text="Alias in BACKUP_TARGETS")
    prefix = models.CharField(max_length=300, help_text="Where its objects are at the target")
    size_bytes = models.BigIntegerField(default=0, help_text="Stored (compressed, encrypted) size")
    manifest = models.JSONField(default=dict, blank=True)
    operation = models.ForeignKey("instances.Operation", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="backups")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"backup {self.instance_slug} {self.created_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def is_restorable(self) -> bool:
        return self.status == BackupStatus.SUCCEEDED


class BackupPolicy(BaseModel):
    """How often a plan's instances are backed up and which backups are kept (grandfather-father-
    son: the newest `keep_last`, plus the newest of each of the last `keep_daily` days,
    `keep_weekly` ISO weeks and `keep_monthly` months). A plan without one gets DEFAULT_POLICY;
    off-site storage follows `Plan.offsite_backups`."""

    plan = models.OneToOneField("billing.Plan", on_delete=models.CASCADE, related_name="backup_policy")
    interval_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Hours between scheduled backups; 0: none scheduled")
    keep_last = models.PositiveSmallIntegerField(default=1)
    keep_daily = models.PositiveSmallIntegerField(default=7)
    keep_weekly = models.PositiveSmallIntegerField(default=4)
    keep_monthly = models.PositiveSmallIntegerField(default=12)
    drill_interval_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days between restore drills of each instance; 0: on demand only")

    class Meta:
        verbose_name_plural = "backup policies"

    def __str__(self) -> str:
        return f"backup policy of {self.plan_id}"


class DrillStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed")


class RestoreDrill(BaseModel):
    """One proof that a backup restores: restored into a scratch instance on its own network,
    health-checked and verified as the app's spec says, then removed."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="restore_drills")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="restore_drills")
    backup = models.ForeignKey(Backup, on_delete=models.SET_NULL, null=True, blank=True, related_name="drills")
    status = models.CharField(max_length=20, choices=DrillStatus.choices, default=DrillStatus.RUNNING, db_index=True)
    checks = models.JSONField(default=list, blank=True, help_text="[{name, ok, detail}]")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    actor = models.CharField(max_length=200, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"drill {self.instance_id} {self.created_at:%Y-%m-%d %H:%M} ({self.status})"
