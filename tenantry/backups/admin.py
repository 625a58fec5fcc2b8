from __future__ import annotations

from django.contrib import admin

from tenantry.backups.models import Backup, BackupPolicy, RestoreDrill


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


@admin.register(BackupPolicy)
class BackupPolicyAdmin(admin.ModelAdmin):
    """Per plan: schedule, grandfather-father-son retention, drill interval (docs/backups.md)."""

    list_display = ("plan", "interval_hours", "keep_last", "keep_daily", "keep_weekly", "keep_monthly",
                    "drill_interval_days")


@admin.register(RestoreDrill)
class RestoreDrillAdmin(admin.ModelAdmin):
    """Read-only: the record of each restore drill."""

    list_display = ("instance", "team", "status", "error_code", "created_at", "completed_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in RestoreDrill._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
