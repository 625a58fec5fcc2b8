"""The seeds' plans as shipped data (idempotent), and the rule that a plan is never smaller than
an app it allows: refused by the model's validation and in the admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError as FormError
from django.utils import timezone

from tenantry.accounts.models import Team
from tenantry.billing.models import Plan
from tenantry.billing.seed import seed_billing_catalog
from tenantry.metering.models import Meter, UsageEvent
from tests.metering.helpers import api_client, post_events

pytestmark = pytest.mark.django_db


def test_the_seeds_plans_are_shipped_once_with_their_limits():
    first = seed_billing_catalog()
    assert first["plans"] >= 7
    assert seed_billing_catalog()["plans"] == 0  # idempotent
    prices = dict(Plan.objects.filter(code__startswith="n8n-").values_list("code", "price_month_minor"))
    assert prices == {"n8n-starter": 4900, "n8n-pro": 14900, "n8n-business": 49900, "n8n-enterprise": None}
    limits = {code: Plan.objects.get(code=code).app_limits["n8n"]
              for code in ("n8n-starter", "n8n-pro", "n8n-business")}
    assert limits["n8n-starter"] == {"executions_month": 10000, "active_workflows": 5, "articles_week": 2}
    assert limits["n8n-pro"] == {"executions_month": 50000, "active_workflows": 25, "articles_week": 8}
    assert limits["n8n-business"] == {"executions_month": 250000, "articles_week": 20}  # workflows unlimited
    enterprise = Plan.objects.get(code="n8n-enterprise")
    assert not enterprise.is_public and enterprise.price_for("month") is None  # on quote, operator-assigned
    erp = {p.code: p for p in Plan.objects.filter(code__startswith="erpnext-")}
    assert erp["erpnext-starter"].price_month_minor == 2900 and erp["erpnext-business"].price_month_minor == 9900
    assert erp["erpnext-starter"].allowed_apps == ["erpnext"] and erp["erpnext-business"].max_instances == 3
    assert not erp["erpnext-enterprise"].is_public
    # Add-ons only on the plans the pricing seed sells them with (not the entry plans).
    assert {p.code for p in Plan.objects.filter(addons_allowed=True, code__contains="-")
            if p.code.startswith(("n8n-", "erpnext-"))} == {
        "n8n-pro", "n8n-business", "n8n-enterprise", "erpnext-business", "erpnext-enterprise"}
    for plan in Plan.objects.filter(code__startswith=("n8n-")):
        plan.full_clean()


def test_an_operator_edit_is_never_overwritten_by_seeding_again():
    seed_billing_catalog()
    Plan.objects.filter(code="n8n-pro").update(price_month_minor=15900)
    seed_billing_catalog()
    assert Plan.objects.get(code="n8n-pro").price_month_minor == 15900


def test_the_articles_meter_is_tenantrys_own():
    # Tenantry records articles from the publishing workflow's runs (tenantry/articles): an event
    # sent through the usage API would count an article twice, so the API refuses the meter.
    meter = Meter.objects.get(code="articles")
    assert meter.aggregation == "count" and meter.internal
    team = Team.objects.create(name="Writers", slug="writers")
    answer = post_events(api_client(team), [{"transaction_id": "a-1", "meter": "articles",
                                             "timestamp": timezone.now().isoformat()}])
    assert answer.status_code == 422 and answer.json()["details"] == {"index": 0, "field": "meter"}
    assert not UsageEvent.objects.filter(meter=meter).exists()


def test_a_plan_smaller_than_an_app_it_allows_is_refused():
    plan = Plan(code="tiny-n8n", name="Tiny", price_month_minor=100, allowed_apps=["n8n"], memory_mb=512,
                cpus=Decimal("0.5"))
    with pytest.raises(FormError) as refused:
        plan.full_clean()
    assert set(refused.value.message_dict) == {"memory_mb", "cpus"}
    assert "n8n needs at least 768 MB" in refused.value.message_dict["memory_mb"][0]
    plan.memory_mb, plan.cpus = 768, Decimal("1")
    plan.full_clean()  # exactly the app's size is enough
    plan.allowed_apps = ["n8n", "erpnext"]
    with pytest.raises(FormError, match="erpnext needs at least 3456 MB"):
        plan.full_clean()
    plan.allowed_apps = ["no-such-app"]
    with pytest.raises(FormError, match="Unknown app"):
        plan.full_clean()


def test_the_admin_refuses_a_plan_too_small_for_its_apps(admin_client):
    form = {"code": "small", "name": "Small", "description": "", "currency": "EUR", "price_month_minor": "900",
            "price_year_minor": "", "trial_days": "0", "allowed_apps": '["n8n"]', "max_instances": "1",
            "max_custom_domains": "1", "memory_mb": "256", "cpus": "1", "storage_gb": "5",
            "traffic_gb_month": "50", "app_limits": "{}", "usage_policies": "{}", "sort_order": "0",
            "is_active": "on", "is_public": "on"}
    response = admin_client.post("/admin/billing/plan/add/", form)
    assert response.status_code == 200 and "n8n needs at least 768 MB" in response.content.decode()
    assert not Plan.objects.filter(code="small").exists()
    response = admin_client.post("/admin/billing/plan/add/", {**form, "memory_mb": "1024"})
    assert response.status_code == 302 and Plan.objects.filter(code="small").exists()
