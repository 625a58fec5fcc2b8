"""Example catalogue from the seeds (shared/seeds/000, 003 and 004): idempotent, created by code once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from tenantry.billing.models import AddOn, Plan, TaxRate

PLANS: list[dict[str, Any]] = [
    {"code": "starter", "name": "Starter", "currency": "EUR", "price_month_minor": 2900, "price_year_minor": 29000,
     "trial_days": 14, "allowed_apps": [], "max_instances": 1, "memory_mb": 512, "cpus": Decimal("0.5"),
     "storage_gb": 5, "traffic_gb_month": 50, "app_limits": {"erpnext": {"users": 5},
                                                             "n8n": {"executions_month": 2500}},
     "sort_order": 10},
    {"code": "pro", "name": "Pro", "currency": "EUR", "price_month_minor": 4900, "price_year_minor": 49000,
     "trial_days": 14, "allowed_apps": [], "max_instances": 2, "memory_mb": 1024, "cpus": Decimal("1"),
     "storage_gb": 20, "traffic_gb_month": 100, "app_limits": {"erpnext": {"users": 10},
                                                               "n8n": {"executions_month": 10000}},
     "offsite_backups": True, "priority_support": True, "addons_allowed": True, "sort_order": 20},
    {"code": "business", "name": "Business", "currency": "EUR", "price_month_minor": 9900, "price_year_minor": 99000,
     "trial_days": 0, "allowed_apps": ["erpnext", "n8n", "n8n-postgres", "wordpress"], "max_instances": 3,
     "memory_mb": 2048,
     "cpus": Decimal("2"), "storage_gb": 50, "traffic_gb_month": 250,
     "app_limits": {"erpnext": {"users": 25}, "n8n": {"executions_month": 50000},
                    "n8n-postgres": {"executions_month": 50000}},
     "offsite_backups": True, "priority_support": True, "addons_allowed": True, "sort_order": 30},
    # Mobile Money customers pay in CFA francs (zero-decimal currency).
    {"code": "starter-xof", "name": "Starter (FCFA)", "currency": "XOF", "price_month_minor": 15000,
     "price_year_minor": 150000, "trial_days": 7, "allowed_apps": [], "max_instances": 1, "memory_mb": 512,
     "cpus": Decimal("0.5"), "storage_gb": 5, "traffic_gb_month": 50, "app_limits": {}, "addons_allowed": True,
     "sort_order": 40},
]

# The n8n content platform's plans (seed 004, "Structure des Plans") and the ERPNext plans (seed 000,
# "Configuration Plans"). Sizes fit the catalog's apps (a plan is never smaller than an app it
# allows: Plan.clean). n8n limits: executions per month, active workflows (absent = unlimited),
# articles per week (the `articles` meter). Enterprise plans are sold on quote: no public price,
# not listed, assigned to a team by the operator.
_N8N = ["n8n", "n8n-postgres"]
PLATFORM_PLANS: list[dict[str, Any]] = [
    {"code": "n8n-starter", "name": "n8n Starter", "price_month_minor": 4900, "price_year_minor": 49000,
     "allowed_apps": _N8N, "max_instances": 1, "memory_mb": 1024, "cpus": Decimal("1.5"), "storage_gb": 10,
     "traffic_gb_month": 50, "app_limits": {app: {"executions_month": 10000, "active_workflows": 5,
                                                  "articles_week": 2} for app in _N8N},
     "sort_order": 110},
    {"code": "n8n-pro", "name": "n8n Pro", "price_month_minor": 14900, "price_year_minor": 149000,
     "allowed_apps": _N8N, "max_instances": 1, "memory_mb": 2048, "cpus": Decimal("2"), "storage_gb": 25,
     "traffic_gb_month": 150, "app_limits": {app: {"executions_month": 50000, "active_workflows": 25,
                                                   "articles_week": 8} for app in _N8N},
     "priority_support": True, "offsite_backups": True, "addons_allowed": True, "sort_order": 120},
    {"code": "n8n-business", "name": "n8n Business", "price_month_minor": 49900, "price_year_minor": 499000,
     "allowed_apps": _N8N, "max_instances": 1, "memory_mb": 4096, "cpus": Decimal("4"), "storage_gb": 100,
     "traffic_gb_month": 500, "app_limits": {app: {"executions_month": 250000, "articles_week": 20}
                                             for app in _N8N},
     "priority_support": True, "offsite_backups": True, "addons_allowed": True, "sort_order": 130},
    {"code": "n8n-enterprise", "name": "n8n Enterprise", "price_month_minor": None, "price_year_minor": None,
     "allowed_apps": _N8N, "max_instances": 1, "memory_mb": 8192, "cpus": Decimal("8"), "storage_gb": 500,
     "traffic_gb_month": 2000, "app_limits": {}, "priority_support": True, "offsite_backups": True,
     "addons_allowed": True, "is_public": False, "sort_order": 140},
    # ERPNext runs eight services (3.5 GB, 4.25 CPUs as the catalog sizes them). The Frappe apps
    # the seed names besides ERPNext (CRM, HRMS) are not in the catalog yet.
    {"code": "erpnext-starter", "name": "ERPNext Starter", "price_month_minor": 2900, "price_year_minor": 29000,
     "allowed_apps": ["erpnext"], "max_instances": 1, "memory_mb": 3584, "cpus": Decimal("4.5"), "storage_gb": 10,
     "traffic_gb_month": 50, "app_limits": {"erpnext": {"users": 5}}, "sort_order": 210},
    {"code": "erpnext-business", "name": "ERPNext Business", "price_month_minor": 9900, "price_year_minor": 99000,
     "allowed_apps": ["erpnext"], "max_instances": 3, "max_custom_domains": 3, "memory_mb": 4096,
     "cpus": Decimal("5"), "storage_gb": 50, "traffic_gb_month": 250, "app_limits": {"erpnext": {"users": 25}},
     "offsite_backups": True, "priority_support": True, "addons_allowed": True, "sort_order": 220},
    {"code": "erpnext-enterprise", "name": "ERPNext Enterprise", "price_month_minor": None,
     "price_year_minor": None, "allowed_apps": [], "max_instances": 20, "max_custom_domains": 20,
     "memory_mb": 8192, "cpus": Decimal("8"), "storage_gb": 500, "traffic_gb_month": 2000, "app_limits": {},
     "offsite_backups": True, "priority_support": True, "addons_allowed": True, "is_public": False,
     "sort_order": 230},
]
for _plan in PLATFORM_PLANS:
    _plan.setdefault("currency", "EUR")
    _plan.setdefault("trial_days", 0)

ADDONS: list[dict[str, Any]] = [
    {"code": "ram-500", "name": "+500 MB RAM", "resource": "memory", "quantity": Decimal(500), "price_minor": 100},
    {"code": "cpu-1", "name": "+1 CPU", "resource": "cpu", "quantity": Decimal(1), "price_minor": 200},
    {"code": "traffic-10", "name": "+10 GB traffic", "resource": "traffic", "quantity": Decimal(10),
     "price_minor": 100},
    {"code": "storage-10", "name": "+10 GB storage", "resource": "storage", "quantity": Decimal(10),
     "price_minor": 100},
    {"code": "ram-500-xof", "name": "+500 MB RAM", "resource": "memory", "quantity": Decimal(500), "price_minor": 650,
     "currency": "XOF"},
    {"code": "cpu-1-xof", "name": "+1 CPU", "resource": "cpu", "quantity": Decimal(1), "price_minor": 1300,
     "currency": "XOF"},
]

TAX_RATES = [
    {"country": "FR", "name": "TVA", "percent": Decimal("20.00"), "reverse_charge_with_vat_id": False},
    {"country": "BE", "name": "BTW", "percent": Decimal("21.00"), "reverse_charge_with_vat_id": True},
    {"country": "DE", "name": "MwSt", "percent": Decimal("19.00"), "reverse_charge_with_vat_id": True},
    {"country": "SN", "name": "TVA", "percent": Decimal("18.00"), "reverse_charge_with_vat_id": False},
    {"country": "CI", "name": "TVA", "percent": Decimal("18.00"), "reverse_charge_with_vat_id": False},
]


@transaction.atomic
def seed_billing_catalog() -> dict[str, int]:
    """Create missing rows; never overwrite what an operator edited (prices are operator data)."""
    created = {"plans": 0, "addons": 0, "tax_rates": 0}
    for data in PLANS:
        _, new = Plan.objects.get_or_create(code=data["code"], defaults=data)
        created["plans"] += new
    for data in PLATFORM_PLANS:
        if Plan.objects.filter(code=data["code"]).exists():
            continue
        plan = Plan(**data)
        plan.full_clean()  # shipped data obeys the operator's rules (sizes, policies)
        plan.save()
        created["plans"] += 1
    for data in ADDONS:
        _, new = AddOn.objects.get_or_create(code=data["code"], defaults=data)
        created["addons"] += new
    for data in TAX_RATES:
        _, new = TaxRate.objects.get_or_create(country=data["country"], defaults=data)
        created["tax_rates"] += new
    # --- backup policies (tenantry/backups/policy.py): the higher plans every 6 hours ---
    from tenantry.backups.models import BackupPolicy

    for code, policy in BACKUP_POLICIES.items():
        found = Plan.objects.filter(code=code).first()
        if found is not None:
            BackupPolicy.objects.get_or_create(plan=found, defaults=policy)
    # --- end backup policies ---
    return created


# Plans not named here get tenantry.backups.policy.DEFAULT_POLICY (daily, 7 daily / 4 weekly / 12 monthly).
BACKUP_POLICIES: dict[str, dict[str, int]] = {
    "pro": {"interval_hours": 6, "keep_last": 4, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12},
    "business": {"interval_hours": 6, "keep_last": 4, "keep_daily": 14, "keep_weekly": 8, "keep_monthly": 12,
                 "drill_interval_days": 1},
}
# The seeds' platform plans: the higher tiers like the generic ones.
BACKUP_POLICIES["n8n-pro"] = BACKUP_POLICIES["erpnext-business"] = BACKUP_POLICIES["pro"]
BACKUP_POLICIES["n8n-business"] = BACKUP_POLICIES["n8n-enterprise"] = BACKUP_POLICIES["business"]
BACKUP_POLICIES["erpnext-enterprise"] = BACKUP_POLICIES["business"]
