"""The customer's view of an n8n instance in a real Chromium: create it with a template from the
dashboard, see its workflows, run one and watch the execution appear without reloading, and get
the n8n login exactly once, or be signed in to n8n with one click."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tenantry.accounts.models import Team
from tenantry.instances.models import Instance, Status
from tenantry.instances.secrets import instance_secret_values
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import PASSWORD, make_user
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.n8n, pytest.mark.slow]


def test_workflows_in_the_dashboard(platform, live_server, browser_page, output_dir):  # noqa: F811
    page = browser_page
    make_user("ana@example.com")
    team = Team.objects.get(memberships__user__email="ana@example.com")
    subscribe(team)  # a customer: creating its instance needs a plan

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "ana@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/t/{team.slug}/instances/new/")
    page.check("input[name=app][value=n8n]")
    options = page.locator("details[data-app=n8n]")
    if options.get_attribute("open") is None:
        options.locator("summary").click()
    expect(options.locator("input[value=echo]")).to_be_checked()
    page.fill("input[name=slug]", "ana-flows")
    shot(page, output_dir, "n8n-01-create")
    # The queue runs in-process in tests: the answer comes once the instance is provisioned.
    page.click("main button[type=submit]", timeout=90_000)
    expect(page).to_have_url(re.compile(r"/instances/ana-flows/$"), timeout=90_000)
    instance = Instance.objects.get(slug="ana-flows")
    assert instance.status == Status.RUNNING

    panel = page.locator("#workflows")
    expect(panel.locator("tr[data-workflow]")).to_have_count(1)
    expect(panel).to_contain_text("Echo")
    expect(panel).to_contain_text("active")
    expect(panel).to_contain_text("No executions yet.")
    shot(page, output_dir, "n8n-02-workflows")

    panel.get_by_role("button", name="Run now").click()
    expect(page.locator("body")).to_contain_text("Started: called its webhook")
    # No reload from here: the panel polls and the execution appears by itself.
    expect(page.locator("#workflows tr[data-execution]")).to_have_count(1, timeout=15_000)
    expect(page.locator("#workflows")).to_contain_text("success")
    expect(page.locator("#workflows")).to_contain_text("1 this month")
    shot(page, output_dir, "n8n-03-executed")

    page.get_by_role("button", name="Show my login (once)").click()
    expect(page.locator("#admin-password")).to_have_text(instance_secret_values(instance)["owner_password"])
    expect(page.locator("#admin-login")).to_have_text("ana@example.com")
    shot(page, output_dir, "n8n-04-login-once")
    page.goto(f"{live_server.url}/t/{team.slug}/instances/ana-flows/")
    expect(page.locator("body")).to_contain_text("Your login was shown on")
    expect(page.get_by_role("button", name="Show my login (once)")).to_have_count(0)

    # "Open n8n, signed in": the browser lands in n8n with the owner's session.
    page.get_by_role("button", name="Open n8n, signed in").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(instance.url)}/"), timeout=30_000)
    # n8n's editor, not an error page. Its bundle is several MB of JavaScript: on a loaded 2-core
    # machine Chromium has taken more than 30 s to mount it.
    expect(page.locator("#n8n-app")).to_be_attached(timeout=90_000)
    assert any(c["name"] == "n8n-auth" for c in page.context.cookies(instance.url))
    # Asked from the page itself (same origin, the browser's own cookie): who am I in n8n?
    me = page.evaluate("fetch('/rest/login').then(r => r.json())")
    assert me["data"]["email"] == "ana@example.com"
    shot(page, output_dir, "n8n-05-signed-in")
