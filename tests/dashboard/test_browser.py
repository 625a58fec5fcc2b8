"""A new customer, in a real Chromium: sign up, verify the address from the mail a real SMTP
server received, create an instance, watch its progress reach "running", open it through
Traefik. Then one page in French. Screenshots land in test-output/screenshots/."""

from __future__ import annotations

import os
import re
import signal
import tempfile

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tenantry.accounts.models import User
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import start_worker

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture()
def browser_page(output_dir):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the test also uses the ORM.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-profile-"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1280, "height": 860}, locale="en-US")
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def shot(page: Page, output_dir, name: str) -> None:
    folder = output_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_signup_to_running_instance_in_a_browser(platform, live_server, mailbox, queued, browser_page, output_dir):
    page = browser_page
    worker = start_worker(output_dir / "browser-worker.log")
    try:
        page.goto(f"{live_server.url}/accounts/signup/")
        shot(page, output_dir, "01-signup")
        page.fill("input[name=email]", "lin@example.com")
        page.fill("input[name=password1]", "a long and lovely passphrase 7")
        page.fill("input[name=password2]", "a long and lovely passphrase 7")
        page.click("main button[type=submit]")
        expect(page.locator("body")).to_contain_text("Verify")
        shot(page, output_dir, "02-verify-sent")

        message = mailbox.wait_for("lin@example.com")
        link = mailbox.link(message, "/accounts/confirm-email/")
        page.goto(live_server.url + "/" + link.split("://", 1)[1].split("/", 1)[1])
        page.click("main button[type=submit]")
        expect(page.locator("h1")).to_have_text("Instances")
        shot(page, output_dir, "03-empty-overview")
        # Creating instances needs a plan (no plans are on sale in this test: the operator gives one).
        subscribe(User.objects.get(email="lin@example.com").memberships.get().team)

        page.click("text=Create your first instance")
        page.fill("input[name=slug]", "Bad Name!")
        page.check("input[value=slowhello]")
        page.click("main button[type=submit]")
        expect(page.locator("#slug-errors")).to_contain_text("may hold only lowercase letters")
        shot(page, output_dir, "04-create-error")
        page.fill("input[name=slug]", "lins-app")
        page.click("main button[type=submit]")

        # live progress, updated by htmx without reloading the page
        expect(page.locator("h1")).to_contain_text("lins-app")
        expect(page.locator("[data-step=wait_healthy][data-step-status=running]")).to_be_visible(timeout=30_000)
        width_during = page.locator(".progress > span").get_attribute("style")
        shot(page, output_dir, "05-progress")
        expect(page.locator("#instance-status")).to_have_text("Running", timeout=40_000)
        # the page reloaded itself at the end: actions enabled, the operation in the history
        expect(page.locator("main button:has-text('Stop')")).to_be_enabled()
        expect(page.locator("details summary")).to_contain_text("Provision")
        assert page.locator(".progress > span").get_attribute("style") == "width:100%"
        assert width_during != "width:100%"
        shot(page, output_dir, "06-running")

        url = page.locator("#instance-url").get_attribute("href")
        assert re.match(r"http://lins-app\.localhost:\d+$", url)
        page.goto(url)
        expect(page.locator("h1")).to_have_text("Hello from lins-app")
        shot(page, output_dir, "07-instance-through-traefik")

        page.goto(f"{live_server.url}/")
        expect(page.locator("tr[data-instance=lins-app]")).to_contain_text("Running")
        shot(page, output_dir, "08-overview")
        page.click("nav.main >> text=Team")
        page.fill("input[name=email]", "colleague@example.com")
        page.click("main button:has-text('Send invitation')")
        expect(page.locator(".messages")).to_contain_text("Invitation sent to colleague@example.com")
        assert mailbox.wait_for("colleague@example.com")
        shot(page, output_dir, "09-team")
        page.click("nav.main >> text=API keys")
        page.fill("input[name=name]", "ci")
        page.click("main button:has-text('Create key')")
        expect(page.locator("#new-key")).to_contain_text("tn_")
        shot(page, output_dir, "10-api-key-shown-once")
        page.goto(f"{live_server.url}/account/")
        shot(page, output_dir, "11-account")
        page.select_option("select[name=language]", "fr")
        page.click("main form button[type=submit]")
        page.goto(f"{live_server.url}/")
        expect(page.locator("h1")).to_have_text("Instances")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("text=Déconnexion")).to_be_visible()
        shot(page, output_dir, "12-overview-fr")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
