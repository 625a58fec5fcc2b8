"""The policies that act on an instance once a quota is used up, against the real things:
`throttle` puts a rate limit on the route in the real Traefik (429 while throttled, 200 once the
next period starts), `suspend` suspends the real instance after its grace period and resumes it
when the customer buys an add-on; each applied once per period, the customer told each time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from tenantry.accounts.models import User
from tenantry.accounts.services.teams import team_create
from tenantry.billing.models import AddOn
from tenantry.billing.services import addon_buy, billing_run
from tenantry.core.errors import ValidationError
from tenantry.core.models import AuditEvent
from tenantry.metering.meters import TRAFFIC_OUT, builtin_meters
from tenantry.metering.models import QuotaEnforcement
from tenantry.metering.quotas import validate_usage_policies
from tenantry.metering.services.ingest import usage_record
from tenantry.metering.services.quotas import quota_check_team
from tenantry.routing.registry import routing
from tests.billing.entitlement_helpers import subscribe
from tests.conftest import wait_for
from tests.instances.helpers import create, fresh

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GB = 10**9


def _traffic(instance, gigabytes: str) -> None:
    usage_record(instance=instance, meter=builtin_meters()[TRAFFIC_OUT], value=Decimal(gigabytes) * GB,
                 transaction_id=f"t:{uuid.uuid4().hex}")


def _told(mailbox, address: str, text: str) -> str:
    """The (one) email to `address` that says `text`, waiting for it."""
    found = wait_for(lambda: [t for m in mailbox.to(address) if text in (t := mailbox.text(m))], timeout=15,
                     what=f"an email saying {text!r}")
    assert len(found) == 1, found
    return found[0]


def _owner_team(name: str):
    owner = User.objects.create_user(email=f"{name.lower()}@example.com", password="pw-Policy-123")
    return owner, team_create(name=name, owner=owner, actor="test")


def test_policy_settings_are_validated():
    validate_usage_policies({"traffic": {"policy": "throttle", "requests": 2, "period_seconds": 1, "burst": 4},
                             "storage": {"policy": "suspend", "grace_days": 0}})
    for bad in ({"storage": {"policy": "throttle"}},  # a rate limit slows traffic only
                {"traffic": {"policy": "throttle", "requests": 0}},
                {"traffic": {"policy": "suspend", "grace_days": -1}},
                {"traffic": {"policy": "suspend", "speed": 3}},
                {"traffic": {"policy": "bill_overage"}}):
        with pytest.raises(ValidationError):
            validate_usage_policies(bad)


@pytest.mark.docker
@pytest.mark.slow
def test_throttled_route_answers_429_through_traefik_until_the_next_period(platform, mailbox):
    owner, team = _owner_team("Throttled")
    with time_machine.travel(START, tick=True) as clock:
        subscription = subscribe(team, traffic_gb_month=1, usage_policies={
            "traffic": {"policy": "throttle", "requests": 1, "period_seconds": 60, "burst": 1}})
        instance, _ = create("throttled", team=team)
        assert fresh(instance).status == "running"
        host = f"{instance.slug}.{_base_domain()}"
        platform.wait_for_body(host, "Hello from throttled")
        # Not throttled yet: requests in a row all reach the app.
        assert [platform.get(host).status_code for _ in range(3)] == [200, 200, 200]

        _traffic(instance, "1")  # 100 % of 1 GB
        quota_check_team(team=team)
        enforcement = QuotaEnforcement.objects.get(instance=instance)
        assert enforcement.action == "throttle" and enforcement.applied_at is not None
        assert routing().current(str(instance.pk)).rate_limit.average == 1
        # Through the real proxy: one request per minute passes, the next is refused by Traefik.
        answers = wait_for(lambda: (codes := [platform.get(host).status_code for _ in range(3)]) and 429 in codes
                           and codes, timeout=10, what="a 429 from Traefik")
        assert set(answers) <= {200, 429} and answers[-1] == 429
        assert quota_check_team(team=team) == [] and QuotaEnforcement.objects.count() == 1  # once per period
        assert AuditEvent.objects.filter(action="usage.throttle").count() == 1

        # Told: the 100 % email says what happens, then the one about the limit applied; the banner too.
        assert "100 %" in _told(mailbox, owner.email, "rate-limited (visitors past the limit")
        assert '"429 Too Many Requests"' in _told(mailbox, owner.email, "limited to 1 per 60 s")
        browser = Client()
        browser.force_login(owner)
        assert "rate-limited until the period ends" in browser.get(f"/t/{team.slug}/").content.decode()

        # The next period: lifted, the route has no rate limit, every request reaches the app again.
        clock.move_to(subscription.current_period_end + timedelta(minutes=1))
        billing_run()
        quota_check_team(team=team)
        enforcement.refresh_from_db()
        assert enforcement.lifted_at is not None
        assert routing().current(str(instance.pk)).rate_limit is None
        wait_for(lambda: [platform.get(host).status_code for _ in range(3)] == [200, 200, 200], timeout=10,
                 what="no more 429")
        assert AuditEvent.objects.filter(action="usage.throttle_lifted").count() == 1
        assert "available again" in _told(mailbox, owner.email, "no longer rate-limited")


@pytest.mark.docker
@pytest.mark.slow
def test_suspended_after_the_grace_period_and_resumed_when_an_addon_is_bought(platform, mailbox):
    owner, team = _owner_team("Grace")
    addon = AddOn.objects.create(code="traffic-10-test", name="+10 GB traffic", resource="traffic",
                                 quantity=Decimal(10), price_minor=100)
    with time_machine.travel(START, tick=True) as clock:
        subscription = subscribe(team, traffic_gb_month=1, addons_allowed=True,
                                 usage_policies={"traffic": {"policy": "suspend", "grace_days": 2}})
        instance, _ = create("grace", team=team)
        assert fresh(instance).status == "running"
        _traffic(instance, "1.2")
        quota_check_team(team=team)
        enforcement = QuotaEnforcement.objects.get(instance=instance)
        assert enforcement.applied_at is None and enforcement.due_at == pytest.approx(
            START + timedelta(days=2), abs=timedelta(minutes=5))
        assert fresh(instance).status == "running"  # the grace period
        assert "2026-03-04" in _told(mailbox, owner.email, "will be suspended on")

        clock.shift(timedelta(days=1))
        quota_check_team(team=team)
        assert fresh(instance).status == "running"

        clock.shift(timedelta(days=1, minutes=1))
        quota_check_team(team=team)
        wait_for(lambda: fresh(instance).status == "suspended", timeout=60, what="suspended")
        enforcement.refresh_from_db()
        assert enforcement.applied_at is not None
        assert quota_check_team(team=team) == []  # applied once
        assert AuditEvent.objects.filter(action="usage.suspend").count() == 1
        assert "used all the traffic" in _told(mailbox, owner.email, "has been suspended")

        # Buying traffic lifts it at once: 1.2 of 11 GB.
        addon_buy(subscription=subscription, addon=addon, actor="test")
        wait_for(lambda: fresh(instance).status == "running", timeout=60, what="resumed")
        enforcement.refresh_from_db()
        assert enforcement.lifted_at is not None
        _told(mailbox, owner.email, "has been resumed")


@pytest.mark.docker
def test_suspension_never_resumes_an_instance_suspended_for_something_else(platform):
    _owner, team = _owner_team("Other")
    with time_machine.travel(START, tick=True) as clock:
        subscription = subscribe(team, traffic_gb_month=1,
                                 usage_policies={"traffic": {"policy": "suspend", "grace_days": 0}})
        instance, _ = create("other", team=team)
        _traffic(instance, "1")
        quota_check_team(team=team)
        wait_for(lambda: fresh(instance).status == "suspended", timeout=60, what="suspended")
        # An operator suspends it again for their own reason, then the period ends.
        from tenantry.instances.models import Operation

        Operation.objects.filter(instance=instance, kind="suspend").update(actor="operator@example.com")
        clock.move_to(subscription.current_period_end + timedelta(minutes=1))
        billing_run()
        quota_check_team(team=team)
        assert QuotaEnforcement.objects.get(instance=instance).lifted_at is not None
        assert fresh(instance).status == "suspended"


def _base_domain() -> str:
    from django.conf import settings

    return settings.TENANTRY["BASE_DOMAIN"]
