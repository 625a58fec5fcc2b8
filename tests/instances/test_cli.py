"""The `tenantry` CLI: real console script for errors and exit codes, call_command for flows."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenantry.instances.models import Instance, Status
from tests.conftest import shared_database_url

pytestmark = [pytest.mark.docker]


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_wait_shows_each_step_and_the_url(platform):
    output = _run("instances", "create", "cli-one", "--app", "hello", "--wait")
    assert "Creating cli-one (hello)" in output
    for title in ("Create the private network", "Start the containers", "Wait until the app answers",
                  "Publish the address"):
        assert title in output
    assert "[9/9] Publish the address … ok" in output
    assert "cli-one is running: http://cli-one.localhost:" in output
    platform.wait_for_body("cli-one.localhost", "Hello from cli-one")

    listing = _run("instances", "list")
    assert "cli-one" in listing and "running" in listing
    shown = _run("instances", "show", "cli-one")
    assert "provision succeeded" in " ".join(shown.split())
    for action, status in [("stop", "stopped"), ("start", "running"), ("hibernate", "hibernated"),
                           ("wake", "running"), ("restart", "running")]:
        out = _run("instances", action, "cli-one", "--wait")
        assert f"cli-one is {status}" in out
    assert "is deleted" in _run("instances", "delete", "cli-one", "--wait")
    assert Instance.objects.get(slug="cli-one").status == Status.DELETED


def test_errors_exit_non_zero_with_a_message(platform):
    with pytest.raises(CommandError) as caught:
        _run("instances", "create", "admin", "--app", "hello")
    assert caught.value.returncode == 2 and "reserved" in str(caught.value)
    with pytest.raises(CommandError) as failed:
        _run("instances", "create", "kaboom", "--app", "brokenhook", "--wait")
    assert failed.value.returncode == 1 and "hook explode failed" in str(failed.value)


@pytest.mark.django_db(transaction=True)
def test_console_script_reports_bad_input():
    env = {**os.environ, "DATABASE_URL": shared_database_url()}
    result = subprocess.run([sys.executable, "-m", "tenantry.cli", "instances", "create", "www", "--app", "hello"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "The name 'www' is reserved. [reserved_slug]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_create_checks_app_inputs_and_templates_before_writing():
    with pytest.raises(CommandError, match="NAME=VALUE"):
        _run("instances", "create", "cli-inputs", "--app", "n8n", "--input", "openai_api_key")
    with pytest.raises(CommandError, match=r"must be an http\(s\) address\. \[invalid_input\]"):
        _run("instances", "create", "cli-inputs", "--app", "n8n", "--input", "wordpress_url=ftp://example")
    with pytest.raises(CommandError, match=r"needs the input\(s\) openai_api_key"):
        _run("instances", "create", "cli-inputs", "--app", "n8n", "--template", "seo-1-expand")
    assert not Instance.objects.filter(slug="cli-inputs").exists()
