"""White label in a real browser: the operator's colours reach the page through app.css's custom
properties, the logo loads, the footer shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.branding.helpers import NAME, branded
from tests.dashboard.helpers import PASSWORD, make_user
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401 - the fixture is reused

pytestmark = [pytest.mark.slow]


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_brand_colours_logo_and_footer_apply_in_chromium(live_server, browser_page, output_dir,  # noqa: F811
                                                          transactional_db):
    branded(primary_color="#0a7d38", accent_color="#b3135c")
    make_user("colours@example.com")
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page).to_have_title(f"Sign In · {NAME}")
    submit = page.locator("main button[type=submit]")
    assert submit.evaluate("b => getComputedStyle(b).backgroundColor") == _rgb("#0a7d38")
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent-2').trim()") \
        == "#b3135c"
    logo = page.locator("header .brand-logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 40  # the uploaded PNG, served
    expect(page.locator("#site-footer")).to_contain_text("TVA FR99123456789")
    shot(page, output_dir, "brand-login")
    page.fill("input[name=login]", "colours@example.com")
    page.fill("input[name=password]", PASSWORD)
    submit.click()
    brand_link = page.locator("header a.brand")
    expect(brand_link).to_contain_text(NAME)
    assert brand_link.evaluate("a => getComputedStyle(a).color") == _rgb("#0a7d38")
    shot(page, output_dir, "brand-dashboard")
