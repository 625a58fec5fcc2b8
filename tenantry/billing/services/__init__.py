"""Billing services (writes). Keyword-only; import from here."""

from tenantry.billing.services.accounts import BillingError, billing_account_for
from tenantry.billing.services.addons import addon_buy, addon_cancel, addons_expire
from tenantry.billing.services.dunning import (
    engine_payment_failed,
    engine_payment_succeeded,
    invoice_mark_paid,
    invoice_payment_failed,
)
from tenantry.billing.services.dunning_timeline import dunning_advance
from tenantry.billing.services.invoicing import credit_note_create, invoice_finalize, invoice_void
from tenantry.billing.services.provisioning import instance_name_validate, subscription_instance_rename
from tenantry.billing.services.renewal import billing_run
from tenantry.billing.services.resources import apply_team_limits, team_limits
from tenantry.billing.services.subscriptions import (
    subscription_cancel,
    subscription_change,
    subscription_checkout,
    subscription_resume_renewal,
    subscription_start_service,
    subscription_terminate,
)

__all__ = [
    "BillingError", "addon_buy", "addon_cancel", "addons_expire", "apply_team_limits", "billing_account_for",
    "billing_run", "credit_note_create", "dunning_advance", "engine_payment_failed", "engine_payment_succeeded",
    "instance_name_validate", "invoice_finalize", "invoice_mark_paid", "invoice_payment_failed", "invoice_void",
    "subscription_cancel",
    "subscription_change", "subscription_checkout", "subscription_instance_rename",
    "subscription_resume_renewal", "subscription_start_service",
    "subscription_terminate", "team_limits",
]
