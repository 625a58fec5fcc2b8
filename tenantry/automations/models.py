from __future__ import annotations

from django.db import models

from tenantry.core.models import BaseModel


class ExecutionRecord(BaseModel):
    """One run of a workflow inside an instance, copied from the app: history that outlives the
    app's own pruning, and what the plan limit "executions / month" counts."""

    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="executions")
    external_id = models.CharField(max_length=64)
    workflow_id = models.CharField(max_length=64)
    workflow_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20)
    mode = models.CharField(max_length=20, blank=True)
    started_at = models.DateTimeField(null=True, db_index=True)
    stopped_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["instance", "external_id"], name="execution_unique")]
        # The executions meter's cursor (metering/collectors/executions.py).
        indexes = [models.Index(fields=["updated_at"], name="execution_updated_idx")]

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.stopped_at is None:
            return None
        return int((self.stopped_at - self.started_at).total_seconds() * 1000)


class LoginTicket(BaseModel):
    """A one-time, short-lived link that signs the customer in to their app (only its hash is kept)."""

    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="login_tickets")
    secret_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=200)


class PauseReason(models.TextChoices):
    EXECUTIONS = "executions"  # the period's executions are used up and the plan blocks
    ARTICLES = "articles"  # the week's articles are published (the publishing workflow only)


class WorkflowState(BaseModel):
    """What Tenantry knows of one workflow inside an instance for the plan's limits: since when
    it has been seen active (the newest activations go first when the active-workflow limit is
    passed), and whether the executions limit paused it (reactivated when the period ends)."""

    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="workflow_states")
    workflow_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    active_since = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    # Which limit paused it (PauseReason): each is lifted by its own check, never by the other's.
    paused_for = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "workflow_id"], name="workflow_state_unique")]
class ScheduleTrigger(BaseModel):
    """A time trigger of an active workflow, read from the app while it runs, so that Tenantry can
    wake the instance ahead of the next run while it hibernates (the app cannot be asked then)."""

    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="schedule_triggers")
    workflow_id = models.CharField(max_length=64)
    workflow_name = models.CharField(max_length=200, blank=True)
    node = models.CharField(max_length=200)
    expressions = models.JSONField(default=list)  # cron expressions, see automations/schedules.py
    time_zone = models.CharField(max_length=64, default="UTC")
    next_fire_at = models.DateTimeField(null=True, blank=True, db_index=True)
    error = models.CharField(max_length=300, blank=True)  # why no next run could be computed

    class Meta:
        ordering = ["next_fire_at"]
        constraints = [models.UniqueConstraint(fields=["instance", "workflow_id", "node"],
                                               name="schedule_trigger_unique")]


class WordPressConnection(BaseModel):
    """The WordPress site an automation instance (n8n) publishes to: one of the team's WordPress
    instances, or a site elsewhere the customer gave. The application password is kept encrypted
    with the instance's other inputs (`wordpress_app_password`), never here."""

    instance = models.OneToOneField("instances.Instance", on_delete=models.CASCADE,
                                    related_name="wordpress_connection")
    # The team's own WordPress instance, when chosen (its address and password are Tenantry's).
    wordpress_instance = models.ForeignKey("instances.Instance", on_delete=models.SET_NULL, null=True, blank=True,
                                           related_name="+")
    url = models.CharField(max_length=2000)
    username = models.CharField(max_length=200)
    # The n8n credential Tenantry fills (type wordpressApi).
    credential_id = models.CharField(max_length=64)
    verified_at = models.DateTimeField()
    actor = models.CharField(max_length=200)
