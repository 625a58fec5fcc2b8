"""Articles the SEO pipeline published on the customer's WordPress, and every run of the
publishing workflow (WF3) Tenantry has read, failed ones with their reason."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Coalesce

from tenantry.core.models import BaseModel


class RunOutcome(models.TextChoices):
    PUBLISHED = "published"
    NOTHING = "nothing"  # succeeded without publishing (no keyword cluster was waiting)
    FAILED = "failed"


class PublishRun(BaseModel):
    """One finished execution of the publishing workflow, read once (its execution id is never
    read again), so a re-sync records nothing twice."""

    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="publish_runs")
    execution_id = models.CharField(max_length=64)
    workflow_id = models.CharField(max_length=64)
    outcome = models.CharField(max_length=20, choices=RunOutcome.choices)
    status = models.CharField(max_length=20)  # n8n's: success, error, canceled, crashed
    reason = models.TextField(blank=True)  # why it failed: n8n's words, secrets removed
    failed_node = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True)
    stopped_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-started_at", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["instance", "execution_id"], name="publish_run_unique")]


class Article(BaseModel):
    """A WordPress post the publishing workflow created. Unique per instance and post id: a retry
    of the run, or reading the same execution again, never records (nor meters) it twice."""

    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="articles")
    post_id = models.CharField(max_length=32)
    title = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=20, blank=True)  # WordPress's: publish, future, draft, ...
    published_at = models.DateTimeField(null=True, blank=True)
    execution_id = models.CharField(max_length=64)

    class Meta:
        ordering = ["-published_at", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["instance", "post_id"], name="article_unique")]
        indexes = [models.Index(fields=["instance", "published_at"], name="article_instance_published")]


def counted_at() -> Coalesce:
    """When an article counts for the weekly limit: its publication date on the site, else
    when Tenantry recorded it."""
    return Coalesce("published_at", "created_at")


class PublishReading(BaseModel):
    """When Tenantry last read the publishing workflow's runs from the app (the two-minute task or
    "Read from n8n now"): the page and the API show it, and read nothing from the app themselves."""

    instance = models.OneToOneField("instances.Instance", on_delete=models.CASCADE, related_name="publish_reading")
    read_at = models.DateTimeField()
