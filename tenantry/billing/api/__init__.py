"""Billing REST API, mounted at /api/v1/billing/: one module per area."""

from __future__ import annotations

from ninja import Router

from tenantry.billing.api import addons, invoices, payments, plans, subscriptions

router: Router = Router()
for module in (plans, subscriptions, invoices, addons, payments):
    router.add_router("", module.router)
