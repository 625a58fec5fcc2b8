from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tenantry.support.models import PlanSla, Ticket


@admin.register(PlanSla)
class PlanSlaAdmin(admin.ModelAdmin):
    list_display = ("plan", "first_response_minutes", "resolution_minutes")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only here: tickets are worked in the operator console (/operator/support/)."""

    list_display = ("number", "subject", "team", "status", "priority", "assignee", "first_response_breached",
                    "resolution_breached")
    list_filter = ("status", "priority", "category")
    search_fields = ("subject", "team__name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False
