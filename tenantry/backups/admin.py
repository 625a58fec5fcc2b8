from __future__ import annotations

from django.contrib import admin

from tenantry.backups.models import Backup


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    """Read-only: backups are made and restored through their operations, never edited."""

    list_display = ("instance_slug", "team", "kind", "status", "target", "size_bytes", "created_at")
    list_filter = ("status", "kind", "target")
    search_fields = ("instance_slug", "id")
    readonly_fields = [f.name for f in Backup._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
