"""Operator screens: plans and add-ons are edited here; issued invoices are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tenantry.billing import models as m


@admin.register(m.Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "currency", "price_month_minor", "price_year_minor", "trial_days",
                    "memory_mb", "cpus", "addons_allowed", "is_active"]
    list_filter = ["currency", "is_active", "addons_allowed"]
    search_fields = ["code", "name"]


@admin.register(m.AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "resource", "quantity", "price_minor", "currency", "is_active"]


@admin.register(m.Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "percent", "amount_minor", "duration", "duration_periods", "is_active"]


@admin.register(m.TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["country", "name", "percent", "reverse_charge_with_vat_id"]


@admin.register(m.BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["team", "country", "currency", "time_zone", "state", "state_changed_at", "dunning_retries"]
    list_filter = ["state", "country"]
    search_fields = ["team__name", "team__slug", "billing_email", "vat_id"]


class DiscountInline(admin.TabularInline):
    model = m.Discount
    extra = 0


@admin.register(m.Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["team", "plan", "interval", "status", "current_period_start", "current_period_end",
                    "cancel_at_period_end", "pending_plan"]
    list_filter = ["status", "plan", "interval"]
    search_fields = ["team__name", "team__slug"]
    inlines = [DiscountInline]


class InvoiceLineInline(admin.TabularInline):
    model = m.InvoiceLine
    extra = 0
    can_delete = False
    readonly_fields = ("position", "kind", "description", "quantity", "unit_amount_minor", "amount_minor",
                       "period_start", "period_end")
    fields = readonly_fields


@admin.register(m.Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team", "status", "reason", "total_minor", "currency", "issued_at", "paid_at"]
    list_filter = ["status", "reason", "currency"]
    search_fields = ["team__name", "number"]
    inlines = [InvoiceLineInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Issued invoices are corrected with credit notes, never edited.
        return obj is None or obj.status == m.InvoiceStatus.DRAFT


class CreditNoteLineInline(admin.TabularInline):
    model = m.CreditNoteLine
    extra = 0


@admin.register(m.CreditNote)
class CreditNoteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "invoice", "team", "total_minor", "currency", "issued_at"]
    inlines = [CreditNoteLineInline]


@admin.register(m.AddOnPurchase)
class AddOnPurchaseAdmin(admin.ModelAdmin):
    list_display = ["team", "addon", "quantity", "status", "starts_at", "expires_at", "auto_renew"]
    list_filter = ["status", "addon"]


@admin.register(m.Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team", "invoice", "provider", "method", "status", "created_at", "settled_at"]
    list_filter = ["provider", "status", "method"]


@admin.register(m.ProcessedWebhook)
class ProcessedWebhookAdmin(admin.ModelAdmin):
    list_display = ["source", "event_id", "event_type", "created_at"]
    list_filter = ["source"]


admin.site.register(m.InvoiceSeries)
