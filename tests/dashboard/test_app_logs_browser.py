"""Following an instance's app logs in a real Chromium: the page shows the latest lines, then
lines the app writes appear without reloading (the page long-polls), secrets as ***; unticking
"Follow live" pauses, ticking it again catches up."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tenantry.accounts.models import Team
from tenantry.instances.secrets import instance_secret_values
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import PASSWORD, make_user
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401  (the fixture)
from tests.instances.helpers import create
from tests.instances.test_app_logs import write_log

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]


def test_follow_app_logs_live(platform, live_server, browser_page, output_dir):  # noqa: F811
    page = browser_page
    make_user("lou@example.com")
    team = Team.objects.get(memberships__user__email="lou@example.com")
    subscribe(team)
    instance, _ = create("lou-app", team=team)
    token = instance_secret_values(instance)["greeting_token"]

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "lou@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/t/{team.slug}/instances/lou-app/")
    page.click("#instance-logs")
    log = page.locator("#app-log")
    expect(log).to_contain_text("hello: serving lou-app")
    expect(page.locator("#logs-state")).to_have_text("following…")

    write_log(instance, "live line one, token $HELLO_TOKEN")
    expect(log).to_contain_text("live line one, token ***", timeout=15_000)
    assert token not in page.content()
    write_log(instance, "live line two")
    expect(log.locator(".log-line").last).to_contain_text("live line two", timeout=15_000)
    shot(page, output_dir, "app-logs-following")

    page.uncheck("#logs-follow")
    # The poll under way may still bring a line; once it ends, the page is paused.
    expect(page.locator("#logs-state")).to_have_text("paused", timeout=20_000)
    write_log(instance, "written while paused")
    time.sleep(1.5)
    expect(log).not_to_contain_text("written while paused")
    page.check("#logs-follow")
    expect(log).to_contain_text("written while paused", timeout=15_000)
    lines = log.locator(".log-line").all_inner_texts()
    assert sum("live line two" in line for line in lines) == 1  # no line shown twice

    # The service filter keeps only that service's lines (hello has one: web).
    page.select_option("#id_service", "web")
    expect(page).to_have_url(f"{live_server.url}/t/{team.slug}/instances/lou-app/logs/?service=web")
    expect(log).to_contain_text("written while paused")
