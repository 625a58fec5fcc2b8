from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class DesiredState(models.TextChoices):
    RUNNING = "running", _("Running")
    STOPPED = "stopped", _("Stopped")
    HIBERNATED = "hibernated", _("Hibernated")
    SUSPENDED = "suspended", _("Suspended")
    ARCHIVED = "archived", _("Archived")
    DELETED = "deleted", _("Deleted")


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROVISIONING = "provisioning", _("Provisioning")
    STARTING = "starting", _("Starting")
    RUNNING = "running", _("Running")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    HIBERNATED = "hibernated", _("Hibernated")
    WAKING = "waking", _("Waking")
    SUSPENDED = "suspended", _("Suspended")
    ARCHIVING = "archiving", _("Archiving")
    ARCHIVED = "archived", _("Archived")
    RESTORING = "restoring", _("Restoring")
    UPDATING = "updating", _("Updating")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted")
    FAILED = "failed", _("Failed")


class Instance(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="instances")
    slug = models.SlugField(max_length=40)
    app = models.CharField(max_length=40)
    app_version = models.CharField(max_length=40, blank=True)
    server = models.ForeignKey("runtime.Server", on_delete=models.PROTECT, related_name="instances")
    # NULL, not "": the unique (server, subnet) constraint must ignore instances without one.
    subnet = models.CharField(max_length=43, null=True, blank=True)  # noqa: DJ001

    memory_mb = models.PositiveIntegerField()
    cpus = models.DecimalField(max_digits=6, decimal_places=3)
    pids = models.PositiveIntegerField()

    desired_state = models.CharField(max_length=20, choices=DesiredState.choices, default=DesiredState.RUNNING)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_message = models.TextField(blank=True)

    hibernate_after_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Idle time before hibernation; empty: the installation default; 0: never")
    last_request_at = models.DateTimeField(null=True, blank=True)
    running_since = models.DateTimeField(null=True, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    # Choices made at creation that the app's hooks read, e.g. {"templates": ["echo"]}.
    options = models.JSONField(default=dict, blank=True)
    # The app's own admin login is shown to the customer once; afterwards only that it was shown.
    admin_revealed_at = models.DateTimeField(null=True, blank=True)
    # Settings the app renders changed while it was not running (a custom domain verified, the
    # team's time zone): its containers are recreated when it next wakes (START always re-ensures).
    settings_stale = models.BooleanField(default=False)

    class Meta:
        ordering = ["slug"]
        constraints = [
            # A deleted instance frees its name.
            models.UniqueConstraint(fields=["slug"], condition=~Q(status="deleted"), name="instance_slug_live_unique"),
            models.UniqueConstraint(fields=["server", "subnet"], condition=Q(subnet__isnull=False),
                                    name="instance_subnet_unique_per_server"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def host(self) -> str:
        from tenantry.instances.naming import instance_host

        return instance_host(self.slug)

    @property
    def url(self) -> str:
        from tenantry.instances.naming import instance_url

        return instance_url(self.slug)


class InstanceSecret(models.Model):
    """A generated per-instance credential, encrypted at rest (never logged, never in the API)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64)
    ciphertext = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "name"], name="instance_secret_unique")]

    def __str__(self) -> str:
        return f"{self.instance_id}:{self.name}"


class OperationKind(models.TextChoices):
    PROVISION = "provision", _("Provision")
    START = "start", _("Start")
    STOP = "stop", _("Stop")
    RESTART = "restart", _("Restart")
    HIBERNATE = "hibernate", _("Hibernate")
    WAKE = "wake", _("Wake")
    DELETE = "delete", _("Delete")
    RECONFIGURE = "reconfigure", _("Reconfigure")
    ROTATE = "rotate", _("Rotate credentials")
    RESIZE = "resize", _("Resize")
    SUSPEND = "suspend", _("Suspend")
    RESUME = "resume", _("Resume")
    ARCHIVE = "archive", _("Archive")
    BACKUP = "backup", _("Back up")
    RESTORE = "restore", _("Restore")
    CLONE = "clone", _("Restore to a new instance")
    READDRESS = "readdress", _("Update the app's address")
    UPDATE = "update", _("Update")


class OperationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_OPERATION_STATUSES = (OperationStatus.PENDING, OperationStatus.RUNNING)


class Operation(BaseModel):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=20, choices=OperationKind.choices)
    status = models.CharField(max_length=20, choices=OperationStatus.choices, default=OperationStatus.PENDING,
                              db_index=True)
    actor = models.CharField(max_length=200, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="Progress a resumed run must not redo")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0, help_text="How many times a worker claimed it")
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one active operation per instance: enforced here, not by convention.
            models.UniqueConstraint(fields=["instance"], condition=Q(status__in=["pending", "running"]),
                                    name="one_active_operation_per_instance"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.instance_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_OPERATION_STATUSES

    @property
    def progress(self) -> float:
        steps = list(self.steps.all())
        if not steps:
            return 0.0
        done = sum(1 for s in steps if s.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED))
        return round(done / len(steps), 3)


class StepStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class Step(models.Model):
    id = models.BigAutoField(primary_key=True)
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=50)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["operation", "position"]
        constraints = [models.UniqueConstraint(fields=["operation", "position"], name="step_position_unique")]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds(), 3)
        return None
