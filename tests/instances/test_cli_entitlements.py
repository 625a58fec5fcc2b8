"""`tenantry instances create --team …` asks the team's plan like the API and the dashboard: a
message with the code and exit status 2; without --team (the operators' team) no plan applies."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.instances.models import Instance, Status
from tenantry.runtime.placement import default_server
from tests.billing.billing_helpers import make_team
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import shared_database_url

pytestmark = [pytest.mark.docker]


def _refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("instances", "create", "cli-plan", "--app", *args, stdout=io.StringIO())
    assert caught.value.returncode == 2
    assert not Instance.objects.filter(slug="cli-plan").exists()
    return str(caught.value)


@pytest.mark.django_db
def test_each_entitlement_code_from_the_cli(docker_client):
    team = make_team("cliplan")
    assert _refused("hello", "--team", "cliplan") == "Choose a plan to create instances. [plan_required]"
    subscription = subscribe(team, allowed_apps=["hello"], max_instances=1, memory_mb=256, cpus=Decimal("0.5"))
    assert _refused("wordpress", "--team", "cliplan").endswith("does not include wordpress. [app_not_in_plan]")
    assert _refused("hello", "--team", "cliplan", "--memory-mb", "4096") == (
        "The plan allows up to 256 MB per instance (add-ons included). [size_over_plan]")
    assert _refused("hello", "--team", "cliplan", "--cpus", "2").endswith("[size_over_plan]")
    assert _refused("hello", "--team", "cliplan", "--hibernate-after", str(2**40)).endswith("[invalid_input]")
    Instance.objects.create(team=team, slug="cliplan-one", app="hello", server=default_server(), memory_mb=64,
                            cpus=Decimal("0.25"), pids=64, status=Status.RUNNING)
    assert _refused("hello", "--team", "cliplan").endswith("[plan_limit_reached]")
    assert subscription.plan.max_instances == 1
    # The operators' team (no --team) is not limited by any plan.
    out = io.StringIO()
    call_command("instances", "create", "cli-plan", "--app", "hello", "--memory-mb", "4096", stdout=out)
    assert "Creating cli-plan (hello)" in out.getvalue()
    assert Instance.objects.get(slug="cli-plan").memory_mb == 4096


@pytest.mark.django_db(transaction=True)
def test_console_script_exits_2_with_the_code(docker_client):
    make_team("cliscript")
    env = {**os.environ, "DATABASE_URL": shared_database_url()}
    result = subprocess.run([sys.executable, "-m", "tenantry.cli", "instances", "create", "cli-script", "--app",
                             "hello", "--team", "cliscript"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Choose a plan to create instances. [plan_required]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Instance.objects.exists()
