"""The Grafana dashboard in deploy/grafana/: valid JSON Grafana can import, and every metric its
expressions name is one that Tenantry's /metrics or the real Traefik of the test run serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.instances.helpers import create

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tenantry-dashboard.json"
# PromQL words that are not metric names (functions are recognised by the "(" after them).
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if text[match.end():].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def served(text: str) -> set[str]:
    """Every series name a /metrics text declares (a counter or histogram without samples yet
    still declares its family: its _total, _bucket… names count)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name, *(sample.name for sample in family.samples)}
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ())}
    return names


def test_metric_names_are_found_in_expressions():
    assert metric_names('sum by (le, kind) (rate(tenantry_x_bucket{code=~"5.."}[5m]))') == {"tenantry_x_bucket"}
    assert metric_names("(traefik_tls_certs_not_after - time()) / 86400") == {"traefik_tls_certs_not_after"}
    assert metric_names("tenantry_instance_up == 0") == {"tenantry_instance_up"}


def test_the_dashboard_is_importable_and_shows_instances_operations_requests():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "Tenantry" and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip()
    used = set().union(*(metric_names(e) for e in expressions()))
    for needed in ("tenantry_instances", "tenantry_operations_total", "tenantry_queue_depth",
                   "traefik_router_requests_total", "traefik_tls_certs_not_after"):
        assert needed in used, needed


@pytest.mark.docker
@pytest.mark.traefik
def test_every_metric_the_dashboard_uses_is_served(platform, client, settings):
    # Traffic through a router, so Traefik has its per-router series.
    create("graphed")
    platform.wait_for_body("graphed.localhost", "Hello from graphed")
    ours = served(client.get("/metrics").content.decode())
    traefik = served(requests.get(f"http://127.0.0.1:{platform.internal_port}/metrics", timeout=5).text)
    used = set().union(*(metric_names(e) for e in expressions()))
    assert used
    missing = {name for name in used if name not in ours and name not in traefik}
    # Traefik reports certificates' expiry only once it holds one (tests/routing/test_tls*.py).
    if "traefik_tls_certs_not_after" not in traefik:
        missing.discard("traefik_tls_certs_not_after")
    assert not missing, missing
    assert {n for n in used if n.startswith("tenantry_")} <= ours
    assert {n for n in used if n.startswith("traefik_") and n != "traefik_tls_certs_not_after"} <= traefik
