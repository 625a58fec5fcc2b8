"""`/metrics`: Prometheus text computed from the database (so any web process reports the same),
served to loopback or with the bearer token only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tenantry.billing.models import Payment, Subscription
from tenantry.instances.models import Instance, Operation
from tenantry.runtime.placement import default_server
from tests.billing.billing_helpers import make_plan, make_team


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def instance(team, slug, *, app="hello", status="running", desired="running") -> Instance:
    return Instance.objects.create(team=team, slug=slug, app=app, server=default_server(), memory_mb=64,
                                   cpus=Decimal("0.25"), pids=64, status=status, desired_state=desired)


def operation(target, kind, status, *, seconds=None, error_code="", actor="api", age=0.0) -> Operation:
    now = timezone.now()
    op = Operation.objects.create(instance=target, kind=kind, status=status, error_code=error_code, actor=actor)
    fields = {"created_at": now - timedelta(seconds=age)}
    if seconds is not None:
        fields |= {"started_at": now - timedelta(seconds=seconds), "finished_at": now}
    Operation.objects.filter(pk=op.pk).update(**fields)
    return op


@pytest.fixture()
def populated(db):
    acme, globex = make_team("acme"), make_team("globex", country="SN")
    web = instance(acme, "web")
    flows = instance(acme, "flows", app="n8n", status="failed")
    instance(globex, "sleepy", status="hibernated", desired="hibernated")
    instance(globex, "gone", status="deleted", desired="deleted")
    operation(web, "provision", "succeeded", seconds=0.8)
    operation(web, "restart", "succeeded", seconds=3)
    operation(web, "start", "succeeded", seconds=2, actor="reconciler")  # a heal counts as a restart
    operation(flows, "provision", "failed", seconds=40, error_code="health_timeout")
    operation(flows, "start", "pending", age=120)
    month, year = make_plan("starter", month=2900, year=29000), make_plan("pro", month=9900, year=120000)
    now = timezone.now()
    for team, plan, interval, status in ((acme, month, "month", "active"), (globex, year, "year", "active")):
        Subscription.objects.create(team=team, account=team.billing_account, plan=plan, interval=interval,
                                    currency="EUR", status=status, billing_anchor=now, current_period_start=now,
                                    current_period_end=now + timedelta(days=30))
    Payment.objects.create(team=acme, provider="stripe", method="card", amount_minor=2900, currency="EUR",
                           status="succeeded", provider_reference="pi_1")
    Payment.objects.create(team=globex, provider="gateway", method="mobile_money", amount_minor=5000,
                           currency="XOF", status="failed", provider_reference="gw_1")
    return {"web": web, "flows": flows}


def test_metrics_report_instances_operations_queue_and_money(client, populated):
    samples = scrape(client)
    assert samples[("tenantry_instances", (("app", "hello"), ("status", "running")))] == 1
    assert samples[("tenantry_instances", (("app", "n8n"), ("status", "failed")))] == 1
    assert samples[("tenantry_instances", (("app", "hello"), ("status", "hibernated")))] == 1
    web = (("app", "hello"), ("slug", "web"), ("team", "acme"))
    flows = (("app", "n8n"), ("slug", "flows"), ("team", "acme"))
    sleepy = (("app", "hello"), ("slug", "sleepy"), ("team", "globex"))
    assert samples[("tenantry_instance_up", web)] == 1 and samples[("tenantry_instance_up", flows)] == 0
    assert samples[("tenantry_instance_down", flows)] == 1
    assert samples[("tenantry_instance_down", sleepy)] == 0  # hibernated on purpose is not an outage
    assert not any(key[0] == "tenantry_instance_up" and ("slug", "gone") in key[1] for key in samples)
    assert samples[("tenantry_instance_restarts_total", web)] == 2
    assert samples[("tenantry_instance_restarts_total", flows)] == 0

    assert samples[("tenantry_operations_total", (("kind", "provision"), ("status", "succeeded")))] == 1
    assert samples[("tenantry_operation_failures_total", (("code", "health_timeout"), ("kind", "provision")))] == 1
    provision = (("kind", "provision"),)
    assert samples[("tenantry_operation_duration_seconds_count", provision)] == 2
    assert samples[("tenantry_operation_duration_seconds_sum", provision)] == pytest.approx(40.8, abs=0.1)
    assert samples[("tenantry_operation_duration_seconds_bucket", (*provision, ("le", "1.0")))] == 1
    assert samples[("tenantry_operation_duration_seconds_bucket", (*provision, ("le", "30.0")))] == 1
    assert samples[("tenantry_operation_duration_seconds_bucket", (*provision, ("le", "60.0")))] == 2
    assert samples[("tenantry_operation_duration_seconds_bucket", (*provision, ("le", "+Inf")))] == 2

    assert samples[("tenantry_queue_depth", ())] >= 0
    assert 119 <= samples[("tenantry_queue_oldest_job_age_seconds", ())] < 200

    assert samples[("tenantry_payments_total", (("currency", "EUR"), ("provider", "stripe"),
                                                 ("status", "succeeded")))] == 1
    assert samples[("tenantry_payments_total", (("currency", "XOF"), ("provider", "gateway"),
                                                 ("status", "failed")))] == 1
    assert samples[("tenantry_payments_amount_minor_total", (("currency", "EUR"), ("provider", "stripe")))] == 2900
    assert samples[("tenantry_mrr_minor", (("currency", "EUR"),))] == 2900 + 10000  # 120000 a year = 10000 a month


def test_refused_webhooks_are_counted_per_provider(client, db, settings):
    settings.LAGO_API_URL, settings.LAGO_API_KEY = "http://127.0.0.1:9", "k" * 24
    settings.LAGO_WEBHOOK_SIGNATURE = "hmac"
    for _ in range(2):
        assert client.post("/webhooks/gateway", data=b"{}", content_type="application/json").status_code == 400
    assert client.post("/webhooks/lago", data=b"{}", content_type="application/json",
                       HTTP_X_LAGO_SIGNATURE="forged").status_code == 400
    samples = scrape(client)
    assert samples[("tenantry_webhook_failures_total", (("provider", "gateway"),))] == 2
    assert samples[("tenantry_webhook_failures_total", (("provider", "lago"),))] == 1


def test_metrics_are_refused_to_a_proxied_or_remote_caller_without_the_token(client, db, settings):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    # Through a proxy on this host the peer is loopback, but the proxy says whom it relays.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    settings.TENANTRY = {**settings.TENANTRY, "METRICS_TOKEN": "m" * 32}
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    remote = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer " + "m" * 32)
    assert remote.status_code == 200 and b"tenantry_instances" in remote.content
