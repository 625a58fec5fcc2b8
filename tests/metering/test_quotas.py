"""Quotas = plan + add-ons: thresholds 80/95/100 % alerted once each per period (email to the
owner over real SMTP, audit row, dashboard banner), `block` refuses with `quota_exceeded`, and
`bill_overage` puts the units above the plan on the preview and on the next invoice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from tenantry.accounts.models import User
from tenantry.accounts.services.teams import team_create
from tenantry.billing.models import InvoiceLine, LineKind, Plan
from tenantry.billing.selectors import invoice_preview
from tenantry.billing.services import billing_run
from tenantry.core.errors import ApplicationError, ValidationError
from tenantry.core.models import AuditEvent
from tenantry.events.models import Event
from tenantry.instances import services as instance_services
from tenantry.instances.models import Instance
from tenantry.metering.meters import TRAFFIC_IN, TRAFFIC_OUT, builtin_meters
from tenantry.metering.models import QuotaAlert
from tenantry.metering.quotas import validate_usage_policies
from tenantry.metering.services.ingest import usage_record
from tenantry.metering.services.quotas import quota_check_team
from tests.billing.entitlement_helpers import subscribe
from tests.metering.helpers import api_client, instance_row

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GB = 10**9


def _traffic(instance, gigabytes: str, *, meter: str = TRAFFIC_OUT) -> None:
    usage_record(instance=instance, meter=builtin_meters()[meter], value=Decimal(gigabytes) * GB,
                 transaction_id=f"t:{uuid.uuid4().hex}")


@pytest.fixture()
def owner_team(transactional_db):
    owner = User.objects.create_user(email="owner@example.com", password="pw-Quota-123")
    team = team_create(name="Quota team", owner=owner, actor="test")
    return owner, team


def test_thresholds_alert_once_each_and_block_refuses_with_its_code(owner_team, mailbox):
    owner, team = owner_team
    with time_machine.travel(START, tick=False) as clock:
        subscription = subscribe(team, traffic_gb_month=10, usage_policies={"traffic": {"policy": "block"}})
        instance = instance_row(team, "busy")
        _traffic(instance, "5")
        assert quota_check_team(team=team) == []
        assert not mailbox.messages

        _traffic(instance, "3", meter=TRAFFIC_IN)  # in + out count: 8 of 10 GB
        clock.shift(timedelta(hours=1))
        assert [a.threshold for a in quota_check_team(team=team)] == [80]
        assert quota_check_team(team=team) == []  # once per period
        first = mailbox.wait_for("owner@example.com")
        assert "80 %" in first["Subject"] and "busy" in first["Subject"]
        assert "8 of 10 GB" in mailbox.text(first)
        assert "/t/quota-team/usage/" in mailbox.text(first)

        _traffic(instance, "1.6")
        clock.shift(timedelta(hours=1))
        assert [a.threshold for a in quota_check_team(team=team)] == [95]
        assert "95 %" in mailbox.wait_for("owner@example.com", count=2)["Subject"]

        _traffic(instance, "0.4")
        clock.shift(timedelta(hours=1))
        assert [a.threshold for a in quota_check_team(team=team)] == [100]
        third = mailbox.wait_for("owner@example.com", count=3)
        assert "100 %" in third["Subject"] and "refused" in mailbox.text(third)
        assert quota_check_team(team=team) == []
        assert len(mailbox.to("owner@example.com")) == 3
        assert list(AuditEvent.objects.filter(action="usage.threshold").values_list("data__threshold", flat=True)
                    .order_by("id")) == [80, 95, 100]
        # The same thresholds in the event stream (webhooks, in-app notices), and no second email.
        assert list(Event.objects.filter(type="usage.threshold").values_list("data__percent", flat=True)
                    .order_by("id")) == [80, 95, 100]

        # Creating more is refused at 100 % (dashboard, API and CLI ask the same entitlement).
        with pytest.raises(ApplicationError) as refused:
            instance_services.instance_create(team=team, slug="another", app="hello", actor="test")
        assert refused.value.code == "quota_exceeded" and refused.value.details["quota"] == "traffic"
        response = api_client(team).post("/api/v1/instances", {"slug": "another", "app": "hello"},
                                         content_type="application/json")
        assert response.status_code == 409 and response.json()["code"] == "quota_exceeded"
        assert not Instance.objects.filter(slug="another").exists()

        # The banner, on every team page; the usage panel with its bars.
        browser = Client()
        browser.force_login(owner)
        page = browser.get(f"/t/{team.slug}/").content.decode()
        assert 'id="usage-banner"' in page and "busy has used 100 % of its traffic" in page
        assert "Creating more is blocked" in page
        usage = browser.get(f"/t/{team.slug}/usage/").content.decode()
        assert 'data-quota="traffic"' in usage and 'aria-valuenow="100"' in usage and "10.00 GB" in usage

        # The API says the same.
        body = api_client(team).get("/api/v1/instances/busy/usage").json()
        traffic = next(q for q in body["quotas"] if q["code"] == "traffic")
        assert traffic["used"] == "10" and traffic["included"] == "10" and traffic["percent"] == 100

        # A new period starts from zero: no banner, creation allowed again, alerts anew later.
        clock.move_to(subscription.current_period_end + timedelta(minutes=1))
        billing_run()
        assert "usage-banner" not in browser.get(f"/t/{team.slug}/").content.decode()
        instance_services.instance_create(team=team, slug="another", app="hello", actor="test")
        assert QuotaAlert.objects.count() == 3


def test_notify_policy_never_blocks(owner_team, mailbox):
    _owner, team = owner_team
    with time_machine.travel(START, tick=False):
        subscribe(team, traffic_gb_month=1)
        instance = instance_row(team, "free")
        _traffic(instance, "2")
        assert [a.threshold for a in quota_check_team(team=team)] == [80, 95, 100]
        assert len(mailbox.to("owner@example.com")) == 1  # the highest new threshold only
        assert "100 %" in mailbox.messages[0]["Subject"]
        assert "Nothing is stopped" in mailbox.text(mailbox.messages[0])
        instance_services.instance_create(team=team, slug="second", app="hello", actor="test")


def test_overage_is_on_the_preview_and_on_the_next_invoice_with_the_right_amount(owner_team):
    _owner, team = owner_team
    with time_machine.travel(START, tick=False) as clock:
        subscription = subscribe(team, traffic_gb_month=1, price_month_minor=2900, usage_policies={
            "traffic": {"policy": "bill_overage", "unit_price_minor": 200}})
        instance = instance_row(team, "heavy")
        _traffic(instance, "2.5")
        _traffic(instance, "0.7", meter=TRAFFIC_IN)  # 3.2 GB used, 1 included: 3 GB started above
        clock.shift(timedelta(days=3))
        preview = invoice_preview(subscription)
        usage_lines = [line for line in preview.lines if line.kind == LineKind.USAGE]
        assert [(line.quantity, line.unit_amount_minor, line.amount_minor) for line in usage_lines] == [(3, 200, 600)]
        assert "heavy" in usage_lines[0].description and "(so far)" in usage_lines[0].description

        period_end = subscription.current_period_end
        clock.move_to(period_end + timedelta(minutes=1))
        _traffic(instance, "5")  # the next period's: not on this invoice
        report = billing_run()
        assert report.invoices == 1
        lines = InvoiceLine.objects.filter(invoice_id=report.invoice_ids[0]).order_by("position")
        usage = [line for line in lines if line.kind == LineKind.USAGE]
        assert [(line.quantity, line.unit_amount_minor, line.amount_minor) for line in usage] == [(3, 200, 600)]
        assert usage[0].period_end == period_end
        assert sum(line.amount_minor for line in lines) == 2900 + 600


def test_policies_are_validated_when_the_plan_is_saved():
    validate_usage_policies({"traffic": {"policy": "bill_overage", "unit_price_minor": 150},
                             "storage": {"policy": "block"}})
    for bad in ({"nope": {"policy": "block"}}, {"traffic": {"policy": "throttle-ish"}},
                {"traffic": {"policy": "bill_overage"}},
                {"traffic": {"policy": "bill_overage", "unit_price_minor": -1}}, []):
        with pytest.raises(ValidationError):
            validate_usage_policies(bad)
    from django.core.exceptions import ValidationError as FormError

    with pytest.raises(FormError):
        Plan(code="x", name="x", usage_policies={"traffic": {"policy": "bill_overage"}}).clean()
