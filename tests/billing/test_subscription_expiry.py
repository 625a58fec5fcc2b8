"""An abandoned checkout (first invoice never paid) expires, so that the team can choose a plan again."""

from __future__ import annotations

import pytest

from tenantry.accounts.models import Team
from tenantry.billing.models import Plan
from tenantry.billing.seed import seed_billing_catalog
from tenantry.billing.services import subscription_checkout


@pytest.mark.django_db
def test_an_abandoned_checkout_expires_and_the_team_can_choose_again():
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from tenantry.billing.models import Invoice, Subscription
    from tenantry.billing.services import dunning_advance

    seed_billing_catalog()
    team = Team.objects.create(name="Hesitant", slug="hesitant")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = subscription_checkout(team=team, plan=Plan.objects.get(code="business"), interval="month",
                                      actor="test")
    assert first.status == "incomplete"  # no trial: waits for its first payment
    invoice = Invoice.objects.get(subscription=first)
    assert invoice.status == "finalized"
    assert dunning_advance(now=start + timedelta(days=6))["expired"] == 0
    assert dunning_advance(now=start + timedelta(days=8))["expired"] == 1
    first.refresh_from_db()
    invoice.refresh_from_db()
    assert first.status == "canceled" and invoice.status == "void"
    again = subscription_checkout(team=team, plan=Plan.objects.get(code="starter"), interval="month", actor="test")
    assert again.status == "trialing" and Subscription.objects.filter(team=team).count() == 2
