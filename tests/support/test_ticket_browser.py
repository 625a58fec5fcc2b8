"""A ticket's whole life in a real Chromium: the customer opens it with an attachment (one over
the limit is refused first; HTML stays text) → staff add an internal note and reply from the
operator console (the email reaches a real SMTP server, with the signed reply address) → the
customer answers BY EMAIL through Tenantry's own inbound SMTP server → staff resolve it → the
statistics count it. The internal note never shows on the customer's page or in the API.
Screenshots land in test-output/screenshots/support-*.png."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tenantry.support.inbound_smtp import start_server
from tenantry.support.models import Ticket, TicketStatus
from tests.dashboard.helpers import PASSWORD, make_user
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401 - the fixture
from tests.support.helpers import PNG, staff_user, team_of
from tests.support.test_api import api
from tests.testenv import free_port

pytestmark = [pytest.mark.slow]


def sign_in(page: Page, url: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("header nav.main")).to_be_visible()


def test_a_tickets_life_in_a_browser(live_server, mailbox, browser_page, output_dir, settings, tmp_path):  # noqa: F811
    page = browser_page
    settings.DATA_DIR = tmp_path
    settings.TENANTRY_SUPPORT = {**settings.TENANTRY_SUPPORT, "MAX_ATTACHMENT_BYTES": 64 * 1024}
    inbound = start_server("127.0.0.1", free_port())
    customer = make_user("noa@bakery.test")
    agent = staff_user("agent@tenantry.test")
    team = team_of(customer)
    (tmp_path / "screen.png").write_bytes(PNG)
    (tmp_path / "huge.log").write_bytes(b"x" * (65 * 1024))
    try:
        # --- the customer opens a ticket -------------------------------------------------------------
        sign_in(page, live_server.url, customer.email)
        page.click("header nav.main >> text=Support")
        expect(page.locator("h1")).to_have_text("Support")
        page.click("#new-ticket")
        page.fill("input[name=subject]", "Checkout <b>broken</b>")
        page.select_option("select[name=category]", "technical")
        page.fill("textarea[name=body]", "Customers see a 502.\n<script>alert('x')</script>")
        page.set_input_files("#id_attachments", [str(tmp_path / "huge.log")])
        page.click("#ticket-form button[type=submit]")
        expect(page.locator("#ticket-form .errorlist")).to_contain_text("huge.log is too large")
        assert not Ticket.objects.exists()
        shot(page, output_dir, "support-01-attachment-too-large")
        page.set_input_files("#id_attachments", [str(tmp_path / "screen.png")])
        page.click("#ticket-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Checkout <b>broken</b>")  # shown as text
        first = page.locator("#thread li.message").first
        expect(first.locator(".body")).to_contain_text("<script>alert('x')</script>")
        expect(first.locator("a[download]")).to_have_text("screen.png")
        expect(page.locator("#ticket-status")).to_have_text("Open")
        shot(page, output_dir, "support-02-opened")
        ticket = Ticket.objects.get()
        with page.expect_download() as download:
            first.locator("a[download]").click()
        assert Path(download.value.path()).read_bytes() == PNG

        # --- staff: internal note, then a reply -----------------------------------------------------------
        sign_in(page, live_server.url, agent.email)
        page.click("header nav.main >> text=Support queue")
        expect(page.locator(f"#queue tr[data-ticket='{ticket.number}']")).to_contain_text("Checkout")
        page.click(f"#queue tr[data-ticket='{ticket.number}'] a")
        page.select_option("#assignee", agent.email)
        page.click("#assign-form button[type=submit]")
        expect(page.locator("#ticket-status")).to_have_text("In progress")
        page.fill("#note-body", "SECRET NOTE: their proxy is misconfigured")
        page.click("#staff-note button[type=submit]")
        expect(page.locator("#thread li[data-kind=note]")).to_contain_text("SECRET NOTE")
        page.fill("#reply-body", "Please clear your CDN cache and try again.")
        page.click("#staff-reply button[type=submit]")
        expect(page.locator("#ticket-status")).to_have_text("Waiting for customer")
        shot(page, output_dir, "support-03-staff-view")

        email = mailbox.wait_for(customer.email)
        assert "Please clear your CDN cache" in mailbox.text(email)
        assert "SECRET" not in mailbox.text(email) and "SECRET" not in mailbox.html(email)
        reply_to = email["Reply-To"]
        assert reply_to.startswith(f"support+{ticket.number}-")

        # --- the customer answers by email, through Tenantry's SMTP server ------------------------------
        answer = EmailMessage()
        answer["From"] = customer.email
        answer["To"] = reply_to
        answer["Subject"] = "Re: " + email["Subject"]
        answer["Message-ID"] = "<answer-1@bakery.test>"
        answer.set_content("Done, it works again. Thank you!\n\nOn Tue, Dec 1, 2026 at 10:00 AM Tenantry "
                           "<no-reply@localhost> wrote:\n> Please clear your CDN cache and try again.\n")
        with smtplib.SMTP("127.0.0.1", inbound.port) as smtp:
            smtp.send_message(answer, from_addr=customer.email, to_addrs=[reply_to])
        assert "Done, it works again" in mailbox.text(mailbox.wait_for(agent.email))

        page.reload()
        by_email = page.locator("#thread li[data-kind=customer]").last
        expect(by_email).to_contain_text("Done, it works again. Thank you!")
        expect(by_email).not_to_contain_text("Please clear your CDN cache")  # quoted history cut
        expect(page.locator("#ticket-status")).to_have_text("Open")
        page.select_option("#new-status", "resolved")
        page.click("#status-form button[type=submit]")
        expect(page.locator("#ticket-status")).to_have_text("Resolved")

        # --- statistics ------------------------------------------------------------------------------------
        page.goto(f"{live_server.url}/operator/support/")
        expect(page.locator("#resolved-total")).to_contain_text("1")
        expect(page.locator("#avg-first-response")).not_to_contain_text("—")
        expect(page.locator("#avg-resolution")).to_contain_text("min")
        expect(page.locator("#support-stats li[data-status=open] .n")).to_have_text("0")
        shot(page, output_dir, "support-04-stats")

        # --- what the customer sees: never the note -----------------------------------------------------
        sign_in(page, live_server.url, customer.email)
        page.goto(f"{live_server.url}/t/{team.slug}/support/{ticket.pk}/")
        expect(page.locator("#ticket-status")).to_have_text("Resolved")
        expect(page.locator("#thread")).to_contain_text("Please clear your CDN cache")
        expect(page.locator("#thread")).to_contain_text("Done, it works again")
        expect(page.locator("body")).not_to_contain_text("SECRET")
        expect(page.locator("#thread li[data-kind=note]")).to_have_count(0)
        shot(page, output_dir, "support-05-customer-resolved")
        shown = api(team).get(f"/api/v1/tickets/{ticket.pk}").json()
        assert shown["status"] == TicketStatus.RESOLVED
        assert [m["from_support"] for m in shown["messages"]] == [False, True, False]
        assert "SECRET" not in str(shown)
    finally:
        inbound.stop()
