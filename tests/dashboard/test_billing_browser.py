"""A paying customer, in a real Chromium: sign up, verify the address, choose a plan and an app,
pay the first invoice with Mobile Money through the reference gateway (confirmed on its "phone"
page), then the instance is provisioned and answers through Traefik, and the invoice is paid.
Screenshots land in test-output/screenshots/billing-*.png."""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import expect

from tenantry.billing.models import Invoice, Payment, ProcessedWebhook, Subscription
from tenantry.billing.money import format_money
from tenantry.instances.models import Instance
from tests.billing.payments_helpers import make_plan
from tests.conftest import start_worker, wait_for
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401 - the fixture is reused

pytestmark = [pytest.mark.docker, pytest.mark.traefik, pytest.mark.slow]
pytest_plugins = ["tests.billing.payments_helpers"]


def test_signup_choose_plan_pay_with_mobile_money_and_get_an_instance(
        platform, live_server, mailbox, queued, browser_page, output_dir,  # noqa: F811
        settings, payment_providers, reference_gateway) -> None:
    settings.TENANTRY = {**settings.TENANTRY, "DASHBOARD_URL": live_server.url}  # where callbacks go
    plan = make_plan("starter", currency="XOF", month=5000, apps=["hello"])
    page = browser_page
    worker = start_worker(output_dir / "billing-browser-worker.log")
    try:
        page.goto(f"{live_server.url}/accounts/signup/")
        page.fill("input[name=email]", "kofi@example.com")
        page.fill("input[name=password1]", "mobile money makes it easy 9")
        page.fill("input[name=password2]", "mobile money makes it easy 9")
        page.click("main button[type=submit]")
        expect(page.locator("body")).to_contain_text("Verify")
        link = mailbox.link(mailbox.wait_for("kofi@example.com"), "/accounts/confirm-email/")
        page.goto(live_server.url + "/" + link.split("://", 1)[1].split("/", 1)[1])
        page.click("main button[type=submit]")

        # Signup ends on the plan choice.
        expect(page.locator("h1")).to_have_text("Choose a plan")
        expect(page.locator(f"label[data-plan={plan.code}]")).to_contain_text("5,000 FCFA")
        shot(page, output_dir, "billing-01-choose-plan")
        page.select_option("select[name=app]", "hello")
        page.fill("input[name=instance_slug]", "kofi-shop")
        page.click("#checkout")

        expect(page.locator("h1")).to_contain_text("Pay invoice")
        invoice = Invoice.objects.get(subscription__team__memberships__user__email="kofi@example.com")
        expect(page.locator("#amount-due")).to_have_text(format_money(invoice.total_minor, "XOF"))
        page.check("input[value='gateway:mobile_money']")
        page.fill("input[name=phone]", "+225 07 00 00 00 42")
        shot(page, output_dir, "billing-02-pay")
        page.click("#pay")

        expect(page.locator("#instructions")).to_contain_text("Confirm the payment on your phone.")
        expect(page.locator("#payment-status")).to_have_attribute("data-status", "pending")
        shot(page, output_dir, "billing-03-confirm-on-phone")

        # The customer's phone: the reference gateway's page, confirmed there.
        with page.context.expect_page() as opened:
            page.click("#test-phone")
        phone = opened.value
        expect(phone.locator("#amount")).to_contain_text("XOF")
        shot(phone, output_dir, "billing-04-phone")
        phone.click("#confirm")
        expect(phone.locator("#result")).to_contain_text("Payment confirmed")
        phone.close()

        # The payment page updates by itself (htmx) once the signed callback has been applied.
        expect(page.locator("#payment-status")).to_have_attribute("data-status", "succeeded", timeout=20_000)
        expect(page.locator("#paid")).to_contain_text("Your instance is being set up.")
        shot(page, output_dir, "billing-05-paid")
        payment = Payment.objects.get(invoice=invoice)
        wait_for(lambda: reference_gateway.ledger.get(payment.provider_reference)["callback_delivered"],
                 timeout=15, what="the gateway's callback accepted by /webhooks/gateway")
        assert ProcessedWebhook.objects.filter(source="gateway").count() == 1
        invoice.refresh_from_db()
        assert invoice.status == "paid" and payment.status == "succeeded"
        subscription = Subscription.objects.get(pk=invoice.subscription_id)
        assert subscription.status == "active" and subscription.provisioned

        # The instance the subscription provisioned answers through Traefik.
        slug = subscription.instance_slug
        page.click("text=Go to my instances")
        wait_for(lambda: Instance.objects.get(slug=slug).status == "running", timeout=90,
                 what="the worker provisions the instance")
        page.reload()  # the instance list does not poll
        expect(page.locator(f"tr[data-instance={slug}]")).to_contain_text("Running")
        shot(page, output_dir, "billing-06-instance-running")
        platform.wait_for_body(f"{slug}.localhost", f"Hello from {slug}", timeout=30)
        page.click(f"tr[data-instance={slug}] a")
        url = page.locator("#instance-url").get_attribute("href")
        assert url and url.startswith(f"http://{slug}.localhost:")
        page.goto(url)
        expect(page.locator("h1")).to_have_text(f"Hello from {slug}")
        shot(page, output_dir, "billing-07-instance-through-traefik")
        page.goto(f"{live_server.url}/t/{subscription.team.slug}/billing/")
        expect(page.locator(f"tr[data-invoice='{invoice.display_number}'] [data-invoice-status]")).to_have_text(
            "Paid")
        expect(page.locator("#payments")).to_contain_text("Succeeded")
        shot(page, output_dir, "billing-08-billing-page")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
