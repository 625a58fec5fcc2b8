"""The plan's app-specific limits reach the automation views: executions / month for n8n."""

from __future__ import annotations

import pytest

from tenantry.accounts.models import Team
from tenantry.billing.models import Plan
from tenantry.billing.seed import seed_billing_catalog
from tenantry.billing.selectors import team_app_limit
from tenantry.billing.services import subscription_checkout


@pytest.mark.django_db
def test_a_teams_plan_sets_the_n8n_executions_limit():
    seed_billing_catalog()
    team = Team.objects.create(name="Flows", slug="flows-team")
    other = Team.objects.create(name="No plan", slug="no-plan")
    subscription_checkout(team=team, plan=Plan.objects.get(code="starter"), interval="month", actor="test")
    assert team_app_limit(team, "n8n", "executions_month") == 2500
    assert team_app_limit(team, "wordpress", "executions_month") is None  # the plan sets none
    assert team_app_limit(other, "n8n", "executions_month") is None  # no subscription, no limit

