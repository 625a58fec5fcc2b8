from django.contrib import admin
from django.http import HttpRequest

from tenantry.runtime.models import OrphanResource, Server


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ("name", "backend", "capacity", "is_active")


@admin.register(OrphanResource)
class OrphanResourceAdmin(admin.ModelAdmin):
    """Read-only: keeping and purging go through `tenantry orphans` (services, audited)."""

    list_display = ("instance_ref", "server", "kind", "name", "first_seen_at", "kept_at")
    list_filter = ("kind", "server")
    search_fields = ("instance_ref", "name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
