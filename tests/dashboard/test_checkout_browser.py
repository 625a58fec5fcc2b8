"""The real path of a new customer, in a real Chromium (issue 9, item 7): sign up, open the
confirmation link from the email (as from a phone: another browser session), sign in, land on
the plans, name the instance (a bad name is refused with the reason), pay with Mobile Money
through the reference gateway, and get the instance under that name, provisioned by a real
worker process and answering through Traefik. Screenshots: test-output/screenshots/checkout-*.png."""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import expect

from tenantry.billing.models import Invoice, Subscription
from tenantry.instances.models import Instance
from tests.billing.payments_helpers import make_plan
from tests.conftest import start_worker, wait_for
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401 - the fixture is reused

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]
pytest_plugins = ["tests.billing.payments_helpers"]

EMAIL, PASSWORD = "john_doe@example.com", "names are chosen not guessed 4"


def test_sign_up_confirm_sign_in_choose_a_name_pay_and_get_that_instance(
        platform, live_server, mailbox, queued, browser_page, output_dir,  # noqa: F811
        settings, payment_providers, reference_gateway) -> None:
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": live_server.url}  # where callbacks go
    plan = make_plan("starter", currency="XOF", month=5000, apps=["hello"])
    page = browser_page
    worker = start_worker(output_dir / "checkout-browser-worker.log")
    try:
        page.goto(f"{live_server.url}/accounts/signup/")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.click("main button[type=submit]")
        expect(page.locator("body")).to_contain_text("Verify")

        # The confirmation link is opened elsewhere (the mail app, a phone): no signup session.
        link = mailbox.link(mailbox.wait_for(EMAIL), "/accounts/confirm-email/")
        page.context.clear_cookies()
        page.goto(live_server.url + "/" + link.split("://", 1)[1].split("/", 1)[1])
        page.click("main button[type=submit]")
        if "/accounts/login/" not in page.url:
            page.goto(f"{live_server.url}/accounts/login/")
        shot(page, output_dir, "checkout-01-sign-in")
        page.fill("input[name=login]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")

        # Signed in, the new customer is led to the plans, not to an empty instance list.
        expect(page.locator("h1")).to_have_text("Choose a plan")
        expect(page.locator(f"label[data-plan={plan.code}]")).to_contain_text("5,000 FCFA")
        expect(page.locator("text=Create your first instance")).to_have_count(0)
        shot(page, output_dir, "checkout-02-plans")

        # A bad name (the email's local part) is refused with the reason, before any payment.
        page.select_option("select[name=app]", "hello")
        page.fill("input[name=instance_slug]", "john_doe")
        page.click("#checkout")
        expect(page.locator("#instance-slug-errors")).to_contain_text(
            "may hold only lowercase letters, digits and single hyphens")
        expect(page.locator("input[name=instance_slug]")).to_have_value("john_doe")
        shot(page, output_dir, "checkout-03-name-refused")
        assert not Subscription.objects.exists() and not Invoice.objects.exists()
        page.fill("input[name=instance_slug]", "www")
        page.click("#checkout")
        expect(page.locator("#instance-slug-errors")).to_contain_text("is reserved")

        page.fill("input[name=instance_slug]", "johns-flows")
        page.click("#checkout")
        expect(page.locator("h1")).to_contain_text("Pay invoice")
        subscription = Subscription.objects.get()
        assert subscription.instance_slug == "johns-flows" and subscription.status == "incomplete"
        page.check("input[value='gateway:mobile_money']")
        page.fill("input[name=phone]", "+225 07 00 00 00 43")
        page.click("#pay")
        expect(page.locator("#instructions")).to_contain_text("Confirm the payment on your phone.")
        with page.context.expect_page() as opened:
            page.click("#test-phone")
        phone = opened.value
        phone.click("#confirm")
        expect(phone.locator("#result")).to_contain_text("Payment confirmed")
        phone.close()
        expect(page.locator("#payment-status")).to_have_attribute("data-status", "succeeded", timeout=20_000)
        shot(page, output_dir, "checkout-04-paid")

        # The instance has the chosen name, is provisioned by the worker and answers through Traefik.
        page.click("text=Go to my instances")
        expect(page.locator("tr[data-instance=johns-flows]")).to_be_visible()
        wait_for(lambda: Instance.objects.get(slug="johns-flows").status == "running", timeout=90,
                 what="the worker provisions johns-flows")
        page.reload()  # the instance list does not poll
        expect(page.locator("tr[data-instance=johns-flows]")).to_contain_text("Running")
        shot(page, output_dir, "checkout-05-instance-running")
        subscription.refresh_from_db()
        assert subscription.status == "active" and subscription.provisioned and not subscription.provision_error
        assert list(Instance.objects.values_list("slug", flat=True)) == ["johns-flows"]
        platform.wait_for_body("johns-flows.localhost", "Hello from johns-flows", timeout=30)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
