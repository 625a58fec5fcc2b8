from __future__ import annotations

from django.contrib import admin

from tenantry.metering.models import CollectorGap, Meter, QuotaAlert, UsageEvent


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "aggregation", "unit", "internal")


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    """Events are facts: read-only (a correction is a new event, or a credit note)."""

    list_display = ("timestamp", "team", "instance", "meter", "value", "transaction_id")
    list_filter = ("meter",)
    search_fields = ("transaction_id", "team__slug", "instance__slug")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(QuotaAlert)
class QuotaAlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "team", "instance", "quota", "threshold", "policy", "used", "included")
    list_filter = ("quota", "threshold", "policy")


@admin.register(CollectorGap)
class CollectorGapAdmin(admin.ModelAdmin):
    list_display = ("collector", "instance", "started_at", "ended_at", "attempts", "error")
    list_filter = ("collector",)
