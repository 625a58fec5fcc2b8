"""Paid add-ons: only on plans allowing them, invoiced at once, raise the instance's limits at once
(RESIZE on real Docker), renewed with the subscription, shrink back when they expire."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from tenantry.billing.models import AddOnStatus, Invoice
from tenantry.billing.services import (
    addon_buy,
    addon_cancel,
    addons_expire,
    billing_run,
    invoice_mark_paid,
    subscription_checkout,
)
from tenantry.core.errors import ValidationError
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance, Status
from tenantry.runtime.registry import runtime_for
from tests.billing.billing_helpers import make_addon, make_plan, make_team


@pytest.mark.django_db
def test_addons_need_a_plan_that_allows_them() -> None:
    team = make_team()
    subscription = subscription_checkout(team=team, plan=make_plan(addons_allowed=False), interval="month",
                                         actor="u")
    with pytest.raises(ValidationError) as excinfo:
        addon_buy(subscription=subscription, addon=make_addon(), actor="u")
    assert excinfo.value.code == "addons_not_allowed"
    assert not Invoice.objects.filter(reason="addon").exists()


@pytest.mark.django_db
def test_auto_renewed_addons_are_billed_with_the_subscription_and_extend() -> None:
    team = make_team()
    subscription = subscription_checkout(team=team, plan=make_plan(addons_allowed=True), interval="month",
                                         actor="u")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    cpu = addon_buy(subscription=subscription, addon=make_addon("cpu-1", "cpu", 1, 200), actor="u", quantity=2)
    ram = addon_buy(subscription=subscription, addon=make_addon(), actor="u")
    addon_cancel(purchase=ram, actor="u")  # stops renewing, stays until it expires
    assert Invoice.objects.get(reason="addon", lines__addon_purchase=cpu).total_minor == 400

    billing_run(now=subscription.current_period_end)
    renewal = Invoice.objects.get(subscription=subscription, reason="renewal")
    assert [(line.kind, line.amount_minor) for line in renewal.lines.order_by("position")] == [
        ("plan", 2900), ("addon", 400)]
    cpu.refresh_from_db()
    assert cpu.expires_at >= renewal.period_end


@pytest.mark.docker
@pytest.mark.traefik
def test_addon_raises_the_running_instance_at_once_and_expiry_shrinks_it(platform):
    team = make_team("addonco")
    plan = make_plan(allowed_apps=["hello"], memory_mb=128, cpus=Decimal("0.25"), addons_allowed=True)
    subscription = subscription_checkout(team=team, plan=plan, interval="month", actor="u", app="hello",
                                         instance_slug="addon1")
    invoice_mark_paid(invoice=Invoice.objects.get(subscription=subscription), payment=None, actor="t")
    instance = Instance.objects.get(team=team)
    runtime = runtime_for(instance.server)
    assert runtime.inspect_limits(build_deployment(instance), "web").memory_mb == 128

    purchase = addon_buy(subscription=subscription, addon=make_addon(), actor="u", auto_renew=False)
    instance.refresh_from_db()
    assert (instance.memory_mb, instance.status) == (628, Status.RUNNING)
    assert instance.operations.filter(kind="resize", status="succeeded").count() == 1
    assert runtime.inspect_limits(build_deployment(instance), "web").memory_mb == 628
    assert platform.wait_for_body(instance.host, "Hello from addon1")

    with time_machine.travel(purchase.expires_at - timedelta(hours=1), tick=True):
        assert addons_expire() == 0
    with time_machine.travel(purchase.expires_at + timedelta(minutes=1), tick=True):
        assert addons_expire() == 1
    purchase.refresh_from_db()
    instance.refresh_from_db()
    assert purchase.status == AddOnStatus.EXPIRED
    assert instance.memory_mb == 128
    assert runtime.inspect_limits(build_deployment(instance), "web").memory_mb == 128
    assert platform.wait_for_body(instance.host, "Hello from addon1")


@pytest.mark.docker
@pytest.mark.traefik
def test_trial_provisions_at_once_and_an_upgrade_resizes_to_the_new_plan(platform):
    team = make_team("upco")
    small = make_plan(allowed_apps=["hello"], memory_mb=96, cpus=Decimal("0.25"), trial_days=14)
    large = make_plan("large", month=9900, allowed_apps=["hello"], memory_mb=192, cpus=Decimal("0.5"))
    subscription = subscription_checkout(team=team, plan=small, interval="month", actor="u", app="hello",
                                         instance_slug="up1")
    instance = Instance.objects.get(team=team)  # trial: provisioned without any invoice
    assert instance.status == Status.RUNNING and not Invoice.objects.filter(team=team).exists()
    runtime = runtime_for(instance.server)
    assert runtime.inspect_limits(build_deployment(instance), "web").memory_mb == 96

    from tenantry.billing.services import subscription_change

    subscription_change(subscription=subscription, plan=large, actor="u")
    instance.refresh_from_db()
    limits = runtime.inspect_limits(build_deployment(instance), "web")
    assert (instance.memory_mb, limits.memory_mb, limits.cpus) == (192, 192, 0.5)
    assert not Invoice.objects.filter(team=team).exists()  # no proration during a trial
    assert platform.wait_for_body(instance.host, "Hello from up1")
