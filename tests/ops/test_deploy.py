"""What ships in deploy/: systemd units that systemd itself accepts, and alert rules that
promtool checks and unit-tests (deploy/prometheus/tenantry-rules.test.yml), on metrics that
`/metrics` really serves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = DEPLOY / "systemd"
RULES = DEPLOY / "prometheus"


def unit(name: str) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def test_systemd_accepts_every_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (package systemd) is needed"
    # The units name the install location (/opt/tenantry/.venv); point them at this virtualenv,
    # since systemd checks that every ExecStart= is an executable.
    venv = Path(sys.executable).parent.parent
    for path in UNITS.iterdir():
        (tmp_path / path.name).write_text(path.read_text().replace("/opt/tenantry/.venv", str(venv)))
    names = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run([analyze, "verify", "--man=no", *names], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    assert {p.name for p in UNITS.iterdir()} == {
        "tenantry.target", "tenantry-migrate.service", "tenantry-server.service", "tenantry-traefik.service"}


def test_the_units_describe_the_production_layout():
    # Several web processes, several task workers, the scheduler and the edge, from one parent.
    server = unit("tenantry-server.service")["Service"]
    assert re.search(r"tenantry serve --web-workers [2-9] --workers [2-9]$", server["ExecStart"])
    assert "--no-scheduler" not in server["ExecStart"] and "--no-edge" not in server["ExecStart"]
    assert server["SupplementaryGroups"] == "docker" and "CAP_NET_ADMIN" in server["AmbientCapabilities"]
    assert "CAP_NET_BIND_SERVICE" in unit("tenantry-traefik.service")["Service"]["AmbientCapabilities"]
    target = unit("tenantry.target")["Unit"]["Wants"].split()
    assert set(target) == {"tenantry-migrate.service", "tenantry-server.service", "tenantry-traefik.service"}
    for name in (p.name for p in UNITS.glob("*.service")):
        service = unit(name)["Service"]
        assert service["EnvironmentFile"] == "/etc/tenantry/env", name
        assert service["User"] == "tenantry" and service["ProtectSystem"] == "strict", name
        if name != "tenantry-migrate.service":
            assert service["Restart"] == "always", name


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool (Debian's prometheus package) is needed"
    return found


def test_promtool_checks_the_rules(promtool):
    result = subprocess.run([promtool, "check", "rules", str(RULES / "tenantry-rules.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass(promtool):
    result = subprocess.run([promtool, "test", "rules", "tenantry-rules.test.yml"], cwd=RULES, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_catches_a_broken_rule(promtool, tmp_path):
    """The unit tests can fail: with the queue threshold raised, the stuck-queue test fails."""
    shutil.copy(RULES / "tenantry-rules.test.yml", tmp_path)
    (tmp_path / "tenantry-rules.yml").write_text(
        (RULES / "tenantry-rules.yml").read_text().replace("tenantry_queue_oldest_job_age_seconds > 300",
                                                           "tenantry_queue_oldest_job_age_seconds > 3000"))
    result = subprocess.run([promtool, "test", "rules", "tenantry-rules.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "TenantryQueueStuck" in result.stdout + result.stderr


def test_every_tenantry_metric_the_rules_use_is_served(client, db):
    used = set(re.findall(r"\b(tenantry_[a-z_]+)", (RULES / "tenantry-rules.yml").read_text()))
    response = client.get("/metrics")
    served = set()
    for family in text_string_to_metric_families(response.content.decode()):
        served |= {family.name, f"{family.name}_total"}
    assert used and used <= served, used - served


def test_promtool_checks_the_example_prometheus_configuration(promtool):
    result = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=RULES, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
