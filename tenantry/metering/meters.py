"""The built-in meters (created by migration 0002) and the quotas they measure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenantry.metering.models import Meter

TRAFFIC_IN = "traffic_in_bytes"  # request bytes through the proxy (Traefik's router metrics)
TRAFFIC_OUT = "traffic_out_bytes"  # response bytes
STORAGE = "storage_bytes"  # the instance's volumes, latest measurement
CPU = "cpu_seconds"  # CPU time used, summed over the instance's containers
MEMORY = "memory_bytes"  # memory in use, averaged over time
EXECUTIONS = "executions"  # automation runs (n8n), one event per execution

BUILTIN_METERS = [
    # code, name, aggregation, unit
    (TRAFFIC_IN, "Traffic in", "sum", "bytes"),
    (TRAFFIC_OUT, "Traffic out", "sum", "bytes"),
    (STORAGE, "Storage", "latest", "bytes"),
    (CPU, "CPU time", "sum", "seconds"),
    (MEMORY, "Memory", "time_weighted", "bytes"),
    (EXECUTIONS, "Executions", "count", "executions"),
]


# Articles the SEO pipeline published, one event each, recorded by Tenantry from the publishing
# workflow's runs (tenantry/articles); the plans limit them per week (`app_limits.<app>.articles_week`).
# Created by migration 0004; internal since 0005 (an event sent through the usage API would count
# an article twice).
ARTICLES = "articles"
REPORTED_METERS = [(ARTICLES, "Articles published", "count", "articles")]


def builtin_meters() -> dict[str, Meter]:
    """The built-in meters by code, created if missing (migration 0002 creates them; a database
    flushed by tests or restored without them gets them back here)."""
    from tenantry.metering.models import Meter

    found = {m.code: m for m in Meter.objects.filter(code__in=[row[0] for row in BUILTIN_METERS])}
    for code, name, aggregation, unit in BUILTIN_METERS:
        if code not in found:
            found[code], _ = Meter.objects.get_or_create(
                code=code, defaults={"name": name, "aggregation": aggregation, "unit": unit, "internal": True})
    return found


def reported_meter(code: str) -> Meter:
    """A reported meter (REPORTED_METERS) by code, created if missing like builtin_meters()."""
    from tenantry.metering.models import Meter

    name, aggregation, unit = next((n, a, u) for c, n, a, u in REPORTED_METERS if c == code)
    meter, _ = Meter.objects.get_or_create(code=code, defaults={"name": name, "aggregation": aggregation,
                                                                "unit": unit, "internal": True})
    return meter
