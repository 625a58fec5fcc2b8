from django.contrib import admin

from tenantry.core.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    search_fields = ("actor", "action", "target_id")
    readonly_fields = ("created_at", "actor", "action", "target_type", "target_id", "data")

    def has_add_permission(self, request) -> bool:
        return False
