"""Billing models: catalogue (plans, add-ons, coupons, tax), accounts and subscriptions, invoices, payments."""

from tenantry.billing.models.catalog import AddOn, Coupon, CouponDuration, DiscountKind, Interval, Plan, TaxRate
from tenantry.billing.models.invoices import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    LineKind,
)
from tenantry.billing.models.payments import Payment, PaymentStatus, ProcessedWebhook
from tenantry.billing.models.subscriptions import (
    AccountState,
    AddOnPurchase,
    AddOnStatus,
    BillingAccount,
    Discount,
    Subscription,
    SubscriptionStatus,
)

__all__ = [
    "AccountState", "AddOn", "AddOnPurchase", "AddOnStatus", "BillingAccount", "Coupon", "CouponDuration",
    "CreditNote", "CreditNoteLine", "Discount", "DiscountKind", "Interval", "Invoice", "InvoiceLine",
    "InvoiceSeries", "InvoiceStatus", "LineKind", "Payment", "PaymentStatus", "Plan", "ProcessedWebhook",
    "Subscription", "SubscriptionStatus", "TaxRate",
]
