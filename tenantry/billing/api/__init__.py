"""Billing REST API, mounted at /api/v1/billing/: one module per area."""

from __future__ import annotations

import importlib
from types import ModuleType

from ninja import Router

from tenantry.billing.api import addons, invoices, plans, subscriptions

router: Router = Router()
for module in (plans, subscriptions, invoices, addons):
    router.add_router("", module.router)

# Payments (helper B's module) joins the same router when it is present.
payments: ModuleType | None
try:
    payments = importlib.import_module("tenantry.billing.api.payments")
except ModuleNotFoundError:
    payments = None
if payments is not None and hasattr(payments, "router"):
    router.add_router("", payments.router)
