"""The collectors against the real things: bytes through the real Traefik (read from its own
Prometheus metrics, across a proxy restart), volume usage from the real Docker engine, CPU and
memory from the cgroup files, and a source that cannot be read."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tenantry.accounts.services.teams import team_create
from tenantry.core.models import AuditEvent
from tenantry.metering.collectors.resources import collect_resources
from tenantry.metering.collectors.storage import collect_storage
from tenantry.metering.collectors.traffic import collect_traffic, parse_router_bytes
from tenantry.metering.meters import CPU, MEMORY, STORAGE, TRAFFIC_IN, TRAFFIC_OUT
from tenantry.metering.models import CollectorGap, CounterSource, UsageEvent
from tests.billing.entitlement_helpers import subscribe
from tests.instances.helpers import create, fresh

pytestmark = [pytest.mark.docker]

MB = 1024 * 1024
# A CGI script that reads the whole request body (so every byte sent is proxied and counted).
SINK = "#!/bin/sh\nbusybox cat > /dev/null\necho Content-Type: text/plain\necho\necho ok\n"


def _total(instance, meter: str) -> Decimal:
    return sum((e.value for e in UsageEvent.objects.filter(instance=instance, meter__code=meter)), Decimal(0))


def _container(docker_client, instance):
    return docker_client.containers.list(filters={"label": f"tenantry.instance={instance.id}"})[0]


def _exec(container, script: str) -> str:
    code, output = container.exec_run(["/bin/sh", "-c", script])
    assert code == 0, output
    return output.decode()


@pytest.fixture()
def metered(platform, docker_client):
    team = team_create(name="Metered", owner=None, actor="test")
    subscribe(team)
    instance, _ = create("metered", team=team)
    assert fresh(instance).status == "running"
    return instance


def test_traffic_through_traefik_is_metered_within_1_percent_across_a_proxy_restart(metered, platform,
                                                                                     docker_client):
    instance = metered
    container = _container(docker_client, instance)
    _exec(container, f"busybox dd if=/dev/zero of=/data/blob bs=1024 count={2 * 1024} 2>/dev/null && "
                     f"printf '{SINK}' > /data/sink.sh && busybox chmod 755 /data/sink.sh && "
                     "busybox ln -sf /data/sink.sh /www/cgi-bin/sink")
    host = f"{instance.slug}.{platform_host()}"
    platform.wait_for_body(host, "Hello from metered")
    sent = received = 0
    session = requests.Session()
    session.trust_env = False

    def exchange(downloads: int, uploads: int) -> None:
        nonlocal sent, received
        for _ in range(downloads):
            response = platform.get(host, "/data/blob", timeout=30)
            assert response.status_code == 200 and len(response.content) == 2 * MB
            received += len(response.content)
        for _ in range(uploads):
            body = os.urandom(MB)
            response = platform.request("POST", host, "/cgi-bin/sink", data=body, timeout=30)
            assert response.status_code == 200 and response.text.strip() == "ok", response.text
            sent += len(body)
            received += len(response.content)

    collect_traffic()  # the page loads above: counted from here on
    baseline_in, baseline_out = _total(instance, TRAFFIC_IN), _total(instance, TRAFFIC_OUT)
    exchange(downloads=2, uploads=1)
    first = collect_traffic()
    assert first.instances >= 1 and not first.gaps
    assert collect_traffic().events == 0  # nothing new: nothing written

    platform.restart()  # every counter starts again from zero
    platform.wait_for_body(host, "Hello from metered")
    received += len(platform.get(host, "/").content)
    # More after the restart than before: a reset seen only as "lower than the last value" would
    # miss it and lose the first part.
    exchange(downloads=4, uploads=3)
    collect_traffic()

    metered_in = _total(instance, TRAFFIC_IN) - baseline_in
    metered_out = _total(instance, TRAFFIC_OUT) - baseline_out
    assert abs(metered_in - sent) <= sent / 100, (metered_in, sent)
    assert abs(metered_out - received) <= received / 100, (metered_out, received)
    source = CounterSource.objects.get(source=f"traefik:{instance.id}:{TRAFFIC_OUT}")
    assert source.resets == 1


def platform_host() -> str:
    from django.conf import settings

    return settings.TENANTRY["BASE_DOMAIN"]


def test_router_metrics_parsing_keeps_instance_routers_only():
    text = (
        "# HELP process_start_time_seconds Start time.\n# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1.7e+09\n"
        "# HELP traefik_router_requests_bytes_total x\n# TYPE traefik_router_requests_bytes_total counter\n"
        'traefik_router_requests_bytes_total{code="200",method="GET",protocol="http",router="i-abc@file",'
        'service="i-abc@file"} 100\n'
        'traefik_router_requests_bytes_total{code="404",method="GET",protocol="http",router="i-abc@file",'
        'service="i-abc@file"} 20\n'
        'traefik_router_requests_bytes_total{code="200",method="GET",protocol="http",'
        'router="i-abc-tenantry@file",service="tenantry-edge@file"} 999\n'
        "# HELP traefik_router_responses_bytes_total x\n# TYPE traefik_router_responses_bytes_total counter\n"
        'traefik_router_responses_bytes_total{code="200",method="GET",protocol="http",router="i-abc@file",'
        'service="i-abc@file"} 5000\n')
    epoch, totals = parse_router_bytes(text)
    assert epoch == repr(1.7e9)
    assert totals == {"abc": {TRAFFIC_IN: Decimal(120), TRAFFIC_OUT: Decimal(5000)}}


def test_storage_measures_50_mb_written_into_a_volume(metered, docker_client):
    instance = metered
    before = collect_storage()
    assert before.instances == 1 and not before.gaps
    first = UsageEvent.objects.get(instance=instance, meter__code=STORAGE).value
    _exec(_container(docker_client, instance), "busybox dd if=/dev/urandom of=/data/fifty bs=1048576 count=50 "
                                               "2>/dev/null")
    collect_storage(instance_ids=[str(instance.id)])
    latest = UsageEvent.objects.filter(instance=instance, meter__code=STORAGE).order_by("-timestamp").first()
    assert latest.value - first >= 50 * MB
    assert latest.value - first < 51 * MB


def test_cpu_and_memory_come_from_the_cgroup_files(metered, docker_client):
    instance = metered
    collect_resources()
    container = _container(docker_client, instance)
    # Burn some CPU inside the container: a busy loop of ~1 s.
    _exec(container, "end=$(( $(busybox date +%s) + 2 )); while [ $(busybox date +%s) -lt $end ]; do :; done")
    report = collect_resources()
    assert report.instances >= 1 and not report.gaps
    # The container may use 0.25 CPU: a 2 s busy loop is at most 0.5 s of CPU time (less on a busy host).
    metered = _total(instance, CPU)
    assert metered > Decimal("0.1")
    # The deltas add up to the counter itself (the first reading counts from the container's start).
    assert metered == CounterSource.objects.get(source=f"cpu:{container.id}").last_raw
    cgroup = Path("/sys/fs/cgroup/cpuacct/docker") / container.id / "cpuacct.usage"
    if cgroup.exists():  # cgroup v1, as on this machine: the file read afterwards is a little further on
        # (stored with 6 decimals: microseconds)
        assert metered - Decimal("0.000001") <= Decimal(int(cgroup.read_text())) / 10**9 < metered + 1
    memory = UsageEvent.objects.filter(instance=instance, meter__code=MEMORY).order_by("-timestamp").first()
    assert 100 * 1024 < memory.value < 64 * MB  # the hello container's limit is 64 MB


def test_a_source_that_cannot_be_read_records_a_gap_not_a_zero(platform, settings, mailbox):
    from tenantry.accounts.models import User

    User.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    settings.TENANTRY = {**settings.TENANTRY, "METERING_TRAEFIK_METRICS_URL": "http://127.0.0.1:9/metrics"}
    report = collect_traffic()
    assert report.gaps and report.events == 0
    collect_traffic()
    gap = CollectorGap.objects.get(collector="traffic", ended_at__isnull=True)
    assert gap.attempts == 2
    assert AuditEvent.objects.filter(action="metering.collector_gap").count() == 1
    assert "traffic collector" in mailbox.wait_for("ops@example.com")["Subject"]
    assert not UsageEvent.objects.exists()
    settings.TENANTRY = {**settings.TENANTRY, "METERING_TRAEFIK_METRICS_URL": ""}
    assert not collect_traffic().gaps
    assert fresh_gap(gap).ended_at is not None


def fresh_gap(gap):
    gap.refresh_from_db()
    return gap
