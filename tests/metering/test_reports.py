"""Usage reports: per instance and per team, daily values in the team's time zone, the projected
overage of the current period, CSV; through the API, the dashboard (SVG charts) and the
operators' overview. Team scoping: another team's instance is 404 everywhere."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import pytest
import time_machine
from django.urls import reverse

from tenantry.accounts.models import Role
from tenantry.metering.meters import TRAFFIC_IN, TRAFFIC_OUT, builtin_meters
from tenantry.metering.reports import team_report
from tenantry.metering.services.ingest import usage_record
from tests.billing.entitlement_helpers import subscribe
from tests.dashboard.helpers import make_user, signed_in
from tests.metering.helpers import api_client, instance_row

pytestmark = [pytest.mark.django_db]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=10)
GB = 10**9


def _traffic(instance, gigabytes: str, at: datetime, meter: str = TRAFFIC_OUT) -> None:
    usage_record(instance=instance, meter=builtin_meters()[meter], value=Decimal(gigabytes) * GB,
                 transaction_id=f"t:{uuid.uuid4().hex}", timestamp=at)


@pytest.fixture()
def metered():
    """Team "Paris" (Europe/Paris) on a 5 GB traffic plan billing 2 € per GB above it, with one
    instance that used 4 GB in the first 10 days; a second team with its own instance."""
    owner = make_user("owner@paris.test")
    team = owner.memberships.get().team
    team.time_zone = "Europe/Paris"
    team.save()
    other_owner = make_user("owner@other.test")
    other = other_owner.memberships.get().team
    with time_machine.travel(START, tick=False) as clock:
        subscription = subscribe(team, traffic_gb_month=5, usage_policies={
            "traffic": {"policy": "bill_overage", "unit_price_minor": 200}})
        subscribe(other, traffic_gb_month=1, usage_policies={"traffic": {"policy": "block"}})
        busy = instance_row(team, "busy")
        idle = instance_row(team, "idle")
        foreign = instance_row(other, "foreign")
        _traffic(busy, "2", START + timedelta(hours=1))
        # 23:30 UTC on March 4 is 00:30 on March 5 in Paris: it is March 5's.
        _traffic(busy, "1", datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
        _traffic(busy, "1", datetime(2026, 3, 4, 23, 30, tzinfo=UTC), meter=TRAFFIC_IN)
        _traffic(foreign, "3", START + timedelta(days=1))
        clock.move_to(NOW)
        yield {"owner": owner, "team": team, "other": other, "busy": busy, "idle": idle, "foreign": foreign,
               "subscription": subscription, "other_owner": other_owner}


def _expected_projection(subscription) -> tuple[Decimal, int]:
    start, end = subscription.current_period_start, subscription.current_period_end
    projected = Decimal(4) * Decimal((end - start).total_seconds()) / Decimal((NOW - start).total_seconds())
    over = int((projected - 5).to_integral_value(rounding=ROUND_CEILING))
    return projected, max(over, 0) * 200


def test_report_has_daily_values_in_the_teams_zone_and_the_projected_overage(metered):
    report = team_report(team=metered["team"])
    assert [r.instance.slug for r in report.instances] == ["busy", "idle"]
    busy = report.instances[0].quotas[0]
    assert busy.code == "traffic" and busy.status.used == Decimal(4)
    days = {p.day.isoformat(): p.value for p in busy.daily}
    assert len(days) == 11  # March 2 to 12, Paris days
    assert days["2026-03-02"] == Decimal(2) and days["2026-03-05"] == Decimal(2) and days["2026-03-04"] == 0
    assert sum(days.values()) == busy.status.used
    projected, amount = _expected_projection(metered["subscription"])
    assert busy.projected_used == projected.quantize(Decimal("0.000001"))
    assert amount > 0 and busy.projected_overage_minor == amount
    assert report.projected_overage_minor == amount and report.currency == "EUR"
    assert [t.code for t in report.totals] == ["traffic", "storage"]  # the test plan has 1 GB of storage
    total = report.totals[0]
    assert (total.used, total.included) == (Decimal(4), Decimal(10))  # two instances of 5 GB each
    # One instance only; another team's instance gives nothing.
    assert [r.instance.slug for r in team_report(team=metered["team"], instance=metered["busy"]).instances] == ["busy"]
    assert team_report(team=metered["team"], instance=metered["foreign"]).instances == []


def test_usage_report_and_csv_through_the_api(metered):
    client = api_client(metered["team"], scope="read")
    body = client.get("/api/v1/usage/report").json()
    assert body["currency"] == "EUR" and [i["instance"] for i in body["instances"]] == ["busy", "idle"]
    traffic = body["instances"][0]["quotas"][0]
    assert traffic["used"] == "4" and traffic["included"] == "5" and len(traffic["daily"]) == 11
    assert {"day": "2026-03-05", "value": "2"} in traffic["daily"]
    assert traffic["projected_overage_minor"] == _expected_projection(metered["subscription"])[1]
    assert body["totals"][0]["used"] == "4" and body["totals"][0]["included"] == "10"
    one = client.get("/api/v1/usage/report", {"instance": "busy"}).json()
    assert [i["instance"] for i in one["instances"]] == ["busy"]
    missing = client.get("/api/v1/usage/report", {"instance": "foreign"})
    assert missing.status_code == 404 and missing.json()["code"] == "instance_not_found"

    exported = client.get("/api/v1/usage/export.csv", {"instance": "busy"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0][:6] == ["date", "instance", "app", "limit", "unit", "used"]
    assert ["2026-03-05", "busy", "hello", "traffic", "GB", "2", "", "", ""] in rows
    assert len(rows) == 1 + 2 * (11 + 1)  # per limit: a row a day, then the period's total
    assert rows[12][5:7] == ["4", "5"] and rows[12][3] == "traffic" and rows[12][8] == "EUR"
    assert "foreign" not in exported.content.decode()


def test_usage_page_draws_one_bar_per_day_and_exports_csv(metered):
    owner = signed_in(metered["owner"])
    team = metered["team"]
    page = owner.get(reverse("dashboard:usage", args=[team.slug])).content.decode()
    assert page.count('<svg class="usage-chart"') == 4  # busy and idle: traffic and storage charts
    assert page.count('<rect class="bar"') == 4 * 11
    assert '<title>2026-03-05: 2 GB</title>' in page
    amount = _expected_projection(metered["subscription"])[1]
    assert f'data-overage="{amount}"' in page and 'id="projected-overage"' in page
    single = owner.get(reverse("dashboard:usage", args=[team.slug]), {"instance": "busy"}).content.decode()
    assert single.count('<svg class="usage-chart"') == 2 and 'id="team-usage"' not in single
    assert owner.get(reverse("dashboard:usage", args=[team.slug]), {"instance": "foreign"}).status_code == 404
    exported = owner.get(reverse("dashboard:usage_export", args=[team.slug]))
    assert exported.status_code == 200 and "busy" in exported.content.decode()
    assert "foreign" not in exported.content.decode()
    # A billing-only member does not see usage (instance.view).
    accountant = make_user("billing@paris.test", team=team, role=Role.BILLING)
    assert signed_in(accountant).get(reverse("dashboard:usage_export", args=[team.slug])).status_code in (403, 404)


def test_operator_overview_lists_top_consumers_teams_over_a_limit_and_usage_by_app(metered):
    staff = make_user("ops@tenantry.test")
    staff.is_staff = True
    staff.save()
    page = signed_in(staff).get(reverse("dashboard:operator_usage")).content.decode()
    # The other team used 3 GB of its 1 GB: over; Paris used 4 of 5: not over.
    assert 'data-instance="foreign" data-quota="traffic"' in page
    assert 'data-instance="busy" data-quota="traffic"' not in page
    top = page[page.index('class="top-consumers"'):]
    assert top.index('data-instance="foreign"') < top.index('data-instance="busy"')  # 300 % before 80 %
    # Traffic out of every hello instance in the last 30 days: 2 + 1 (busy) + 3 (foreign) GB.
    by_app = page[page.index('id="by-app"'):]
    assert 'data-app="hello" data-meter="Traffic out"><td>hello</td><td>Traffic out</td><td data-total="6">' in by_app
    # Not for customers.
    assert signed_in(metered["owner"]).get(reverse("dashboard:operator_usage")).status_code == 302
