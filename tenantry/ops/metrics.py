"""`/metrics`: Prometheus metrics computed from the database at scrape time.

Nothing is counted in process memory: web, worker and scheduler are separate processes (several
of each in production), and whichever answers the scrape must report the same numbers. Each
scrape runs a handful of grouped queries; per-instance series are one row per live instance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

# Operations take from under a second (stop) to minutes (provisioning n8n, restoring a backup).
OPERATION_DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
GONE_STATUSES = ("deleted",)


class TenantryCollector(Collector):
    def collect(self) -> Iterator[Any]:
        yield from self._instances()
        yield from self._operations()
        yield from self._queue()
        yield from self._webhooks()
        yield from self._payments()
        # --- backups and restore drills (tenantry/backups/metrics.py) ---
        from tenantry.backups.metrics import collect as backup_series

        yield from backup_series()

    # --- instances ------------------------------------------------------------------------------
    def _instances(self) -> Iterator[Any]:
        from tenantry.instances.models import Instance, Operation, OperationKind, OperationStatus, Status

        by_status = GaugeMetricFamily("tenantry_instances", "Instances by observed status and app",
                                      labels=["status", "app"])
        for group in Instance.objects.values("status", "app").annotate(n=Count("id")).order_by("status", "app"):
            by_status.add_metric([group["status"], group["app"]], group["n"])
        yield by_status

        # The instance's label is `slug`: Prometheus gives `instance` to the scraped target.
        live = list(Instance.objects.exclude(status__in=GONE_STATUSES)
                    .values("id", "slug", "app", "status", "desired_state", "team__slug").order_by("slug"))
        up = GaugeMetricFamily("tenantry_instance_up",
                               "1 when the instance is running (its health check passed), else 0",
                               labels=["slug", "team", "app"])
        # Down = it should run and does not (stopped or hibernated on purpose is not an outage).
        down_unexpectedly = GaugeMetricFamily("tenantry_instance_down", "1 when it should be running and is not",
                                              labels=["slug", "team", "app"])
        for inst in live:
            labels = [inst["slug"], inst["team__slug"], inst["app"]]
            up.add_metric(labels, 1 if inst["status"] == Status.RUNNING else 0)
            broken = inst["desired_state"] == "running" and inst["status"] in (Status.FAILED, Status.STOPPED)
            down_unexpectedly.add_metric(labels, 1 if broken else 0)
        yield up
        yield down_unexpectedly

        # Restarts: asked for (restart operations) plus the reconciler's heals of a crashed or vanished
        # container; a climbing count means an app that keeps falling over.
        restarts = CounterMetricFamily("tenantry_instance_restarts", "Restarts of the instance (asked or healed)",
                                       labels=["slug", "team", "app"])
        counted = (Operation.objects.exclude(instance__status__in=GONE_STATUSES)
                   .filter(Q(kind=OperationKind.RESTART) | Q(actor="reconciler"),
                           status=OperationStatus.SUCCEEDED)
                   .values("instance_id").annotate(n=Count("id")))
        per_instance = {c["instance_id"]: c["n"] for c in counted}
        for inst in live:
            restarts.add_metric([inst["slug"], inst["team__slug"], inst["app"]], per_instance.get(inst["id"], 0))
        yield restarts

    # --- operations -----------------------------------------------------------------------------
    def _operations(self) -> Iterator[Any]:
        from tenantry.instances.models import Operation, OperationStatus

        total = CounterMetricFamily("tenantry_operations", "Operations by kind and outcome", labels=["kind", "status"])
        for row in Operation.objects.values("kind", "status").annotate(n=Count("id")).order_by("kind", "status"):
            total.add_metric([row["kind"], row["status"]], row["n"])
        yield total

        failures = CounterMetricFamily("tenantry_operation_failures", "Failed operations by kind and error code",
                                       labels=["kind", "code"])
        for failed in (Operation.objects.filter(status=OperationStatus.FAILED).values("kind", "error_code")
                       .annotate(n=Count("id")).order_by("kind", "error_code")):
            failures.add_metric([failed["kind"], failed["error_code"] or "unknown"], failed["n"])
        yield failures

        # Durations of finished operations; Python does the bucketing (date arithmetic differs
        # between SQLite and PostgreSQL) over two timestamps per row.
        buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(OPERATION_DURATION_BUCKETS))
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        finished = (Operation.objects.filter(status__in=[OperationStatus.SUCCEEDED, OperationStatus.FAILED],
                                             started_at__isnull=False, finished_at__isnull=False)
                    .values_list("kind", "started_at", "finished_at"))
        for kind, started_at, finished_at in finished.iterator(chunk_size=2000):
            if started_at is None or finished_at is None:
                continue
            seconds = max(0.0, (finished_at - started_at).total_seconds())
            sums[kind] += seconds
            counts[kind] += 1
            for index, bound in enumerate(OPERATION_DURATION_BUCKETS):
                if seconds <= bound:
                    buckets[kind][index] += 1
        duration = HistogramMetricFamily("tenantry_operation_duration_seconds",
                                         "Time from a worker starting an operation to its end", labels=["kind"])
        for kind in sorted(counts):
            cumulative = [(str(bound), buckets[kind][i]) for i, bound in enumerate(OPERATION_DURATION_BUCKETS)]
            # buckets[kind][i] already counts every duration <= bound (cumulative by construction).
            duration.add_metric([kind], [*cumulative, ("+Inf", counts[kind])], sum_value=sums[kind])
        yield duration

    # --- queue ----------------------------------------------------------------------------------
    def _queue(self) -> Iterator[Any]:
        from huey.contrib.djhuey import HUEY

        from tenantry.instances.models import Operation, OperationStatus

        depth = GaugeMetricFamily("tenantry_queue_depth", "Tasks waiting in the queue")
        depth.add_metric([], HUEY.pending_count())
        yield depth
        # Huey's messages carry no enqueue time; the operations they run do. An operation still
        # pending is one no worker has picked up yet.
        oldest = (Operation.objects.filter(status=OperationStatus.PENDING).order_by("created_at")
                  .values_list("created_at", flat=True).first())
        age = GaugeMetricFamily("tenantry_queue_oldest_job_age_seconds",
                                "Age of the oldest operation no worker has started (0: none waiting)")
        age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
        yield age

    # --- webhooks and money ---------------------------------------------------------------------
    def _webhooks(self) -> Iterator[Any]:
        from tenantry.ops.models import WebhookRejection

        failures = CounterMetricFamily("tenantry_webhook_failures", "Inbound webhooks refused, by provider",
                                       labels=["provider"])
        for row in WebhookRejection.objects.values("source").annotate(n=Count("id")).order_by("source"):
            failures.add_metric([row["source"]], row["n"])
        yield failures

    def _payments(self) -> Iterator[Any]:
        from tenantry.billing.models import Interval, Payment, PaymentStatus, Subscription

        payments = CounterMetricFamily("tenantry_payments", "Payments by provider, status and currency",
                                       labels=["provider", "status", "currency"])
        amounts = CounterMetricFamily("tenantry_payments_amount_minor",
                                      "Amount of succeeded payments, in minor units", labels=["provider", "currency"])
        for row in (Payment.objects.values("provider", "status", "currency")
                    .annotate(n=Count("id"), amount=Sum("amount_minor")).order_by("provider", "status", "currency")):
            payments.add_metric([row["provider"], row["status"], row["currency"]], row["n"])
            if row["status"] == PaymentStatus.SUCCEEDED:
                amounts.add_metric([row["provider"], row["currency"]], row["amount"] or 0)
        yield payments
        yield amounts

        # Monthly recurring revenue of paying subscriptions (active, or past due and still owed):
        # plan prices, yearly ones spread over twelve months. Trials are not revenue yet.
        mrr: dict[str, float] = defaultdict(float)
        paying = (Subscription.objects.filter(status__in=["active", "past_due"])
                  .values("currency", "interval", month=F("plan__price_month_minor"), year=F("plan__price_year_minor")))
        for sub in paying:
            if sub["interval"] == Interval.YEAR:
                mrr[sub["currency"]] += (sub["year"] or 0) / 12
            else:
                mrr[sub["currency"]] += sub["month"] or 0
        gauge = GaugeMetricFamily("tenantry_mrr_minor", "Monthly recurring revenue, in minor units",
                                  labels=["currency"])
        for currency in sorted(mrr):
            gauge.add_metric([currency], round(mrr[currency]))
        yield gauge


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TenantryCollector())
    return registry
