"""The usage page in a real Chromium: the daily chart is an SVG drawn by the server, one bar per
day of the period so far, each bar's height following its day's usage (no JavaScript)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tenantry.billing.models import Subscription
from tenantry.metering.meters import TRAFFIC_OUT, builtin_meters
from tenantry.metering.services.ingest import usage_record
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import PASSWORD, make_user
from tests.dashboard.test_browser import browser_page, shot  # noqa: F401 - the fixture is reused
from tests.metering.helpers import instance_row

pytestmark = [pytest.mark.slow]


def test_usage_chart_renders_one_bar_per_day_in_chromium(live_server, browser_page, output_dir):  # noqa: F811
    owner = make_user("chart@example.com")
    team = owner.memberships.get().team
    team.time_zone = "Europe/Paris"
    team.save()
    subscription = subscribe(team, traffic_gb_month=10)
    now = timezone.now()
    start = now - timedelta(days=6)  # the first event is at the very start: on the first bar
    Subscription.objects.filter(pk=subscription.pk).update(current_period_start=start)
    instance = instance_row(team, "charted")
    meter = builtin_meters()[TRAFFIC_OUT]
    for days_ago, gigabytes in ((6, 1), (3, 4), (0, 2)):
        usage_record(instance=instance, meter=meter, value=Decimal(gigabytes) * 10**9,
                     transaction_id=f"t:{uuid.uuid4().hex}", timestamp=now - timedelta(days=days_ago))
    paris = ZoneInfo("Europe/Paris")
    expected_days = (now.astimezone(paris).date() - start.astimezone(paris).date()).days + 1

    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "chart@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/t/{team.slug}/usage/")
    chart = page.locator("section[data-instance=charted] tr[data-quota=traffic] svg.usage-chart")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.bar")
    expect(bars).to_have_count(expected_days)
    heights = [bars.nth(i).bounding_box()["height"] for i in range(expected_days)]
    # Three days with traffic are drawn, the 4 GB day tallest; the other days are empty.
    assert sum(1 for h in heights if h > 0) == 3
    assert max(heights) == heights[-4] and heights[-4] > heights[-1] > heights[0] > 0
    assert chart.get_attribute("aria-label").startswith("Traffic per day")
    expect(page.locator("#projected-overage")).to_be_visible()
    shot(page, output_dir, "usage-chart")
