"""Meters, usage events, hourly/daily rollups, counter sources, collector gaps and quota alerts."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenantry.core.models import BaseModel


class Aggregation(models.TextChoices):
    COUNT = "count", _("Count")  # number of events
    SUM = "sum", _("Sum")  # sum of values
    MAX = "max", _("Maximum")
    LATEST = "latest", _("Latest value")
    UNIQUE = "unique", _("Unique keys")  # distinct `key`s (e.g. active users)
    TIME_WEIGHTED = "time_weighted", _("Time-weighted average")  # a gauge averaged over time


class Meter(BaseModel):
    """One measured thing. Built-in meters (traffic, storage, CPU, memory, executions) are
    created by a migration; the operator may add more for events sent through the API."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    aggregation = models.CharField(max_length=20, choices=Aggregation.choices)
    unit = models.CharField(max_length=20, blank=True, help_text="bytes, seconds, executions, …")
    # Internal meters are written by collectors only: API callers may not send events for them,
    # or a customer could lower (or inflate) their own measured traffic.
    internal = models.BooleanField(default=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class UsageEvent(models.Model):
    """One measurement. Immutable once written; a repeated `transaction_id` is the same event."""

    id = models.BigAutoField(primary_key=True)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="usage_events")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="usage_events")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="events")
    transaction_id = models.CharField(max_length=100)
    timestamp = models.DateTimeField()
    value = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    key = models.CharField(max_length=200, blank=True, help_text="What a `unique` meter counts distinct values of")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "transaction_id"], name="usage_event_txn_unique")]
        indexes = [models.Index(fields=["team", "meter", "instance", "timestamp"], name="usage_event_stream")]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.value}"


class Granularity(models.TextChoices):
    HOUR = "hour", _("Hour")
    DAY = "day", _("Day")


class UsageRollup(models.Model):
    """The aggregate of one meter for one instance (or the team's events without an instance)
    over an hour or a day (UTC buckets). Recomputed from the events, so rolling up twice gives the
    same row, never a doubled one."""

    id = models.BigAutoField(primary_key=True)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="usage_rollups")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="usage_rollups")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="rollups")
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    value = models.DecimalField(max_digits=24, decimal_places=6)
    events = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bucket_start"]
        constraints = [
            models.UniqueConstraint(fields=["team", "instance", "meter", "granularity", "bucket_start"],
                                    name="usage_rollup_unique"),
            models.UniqueConstraint(fields=["team", "meter", "granularity", "bucket_start"],
                                    condition=models.Q(instance__isnull=True), name="usage_rollup_unique_team"),
        ]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:00} {self.value}"


class CounterSource(BaseModel):
    """The last raw value read from a monotonic counter (Traefik bytes, cgroup CPU time), so that
    only the delta since the previous read becomes usage. `epoch` names the counter's lifetime
    (the proxy's process start, the container id): a new epoch, or a value lower than the last,
    is a reset and the whole new value is the delta."""

    source = models.CharField(max_length=200, unique=True)
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="counter_sources")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE)
    epoch = models.CharField(max_length=100, blank=True)
    last_raw = models.DecimalField(max_digits=24, decimal_places=6)
    last_read_at = models.DateTimeField()
    resets = models.PositiveIntegerField(default=0)


class CollectorGap(BaseModel):
    """A collection that could not read its source: nothing is written for that interval (not a
    zero), and the operator is alerted. Closed when the collector reads the source again."""

    collector = models.CharField(max_length=40)
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="collector_gaps")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["collector", "instance"], condition=models.Q(ended_at__isnull=True),
                                    name="collector_gap_one_open"),
        ]


class QuotaAlert(BaseModel):
    """A quota threshold (80/95/100 %) reached by an instance in a billing period: written once,
    which is what keeps the email, the audit row and the banner to one per period."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="quota_alerts")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="quota_alerts")
    quota = models.CharField(max_length=40)
    threshold = models.PositiveSmallIntegerField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    used = models.DecimalField(max_digits=24, decimal_places=6)
    included = models.DecimalField(max_digits=24, decimal_places=6)
    policy = models.CharField(max_length=20)

    class Meta:
        ordering = ["-threshold", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "quota", "threshold", "period_start"],
                                    name="quota_alert_once_per_period"),
        ]


class EnforcementAction(models.TextChoices):
    THROTTLE = "throttle", _("Throttled")
    SUSPEND = "suspend", _("Suspended")


class QuotaEnforcement(BaseModel):
    """A policy applied to an instance because a quota was used up in a billing period: at most
    one per instance, quota and period. `due_at` is when it applies (a suspension waits for its
    grace period); `lifted_at` when it ended (next period, an add-on or a larger plan), or was
    cancelled before it applied."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="quota_enforcements")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="quota_enforcements")
    quota = models.CharField(max_length=40)
    action = models.CharField(max_length=20, choices=EnforcementAction.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    due_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)  # the policy's settings when it applied

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "quota", "period_start"], name="quota_enforcement_once"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.quota}"

    @property
    def active(self) -> bool:
        return self.applied_at is not None and self.lifted_at is None
