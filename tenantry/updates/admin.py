from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tenantry.core.errors import ApplicationError
from tenantry.updates.models import InstanceTemplate, MaintenanceWindow, Rollout, RolloutTarget
from tenantry.updates.services import rollout_cancel
from tenantry.updates.templates import template_rollback


class RolloutTargetInline(admin.TabularInline):
    model = RolloutTarget
    fields = ("position", "instance", "from_version", "status", "message", "operation", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    """Rollouts are started from the operator console, the API or `tenantry updates rollout`."""

    list_display = ("app", "to_version", "scope", "percent", "status", "status_message", "actor", "created_at")
    list_filter = ("status", "app")
    readonly_fields = ("app", "to_version", "scope", "percent", "max_failures", "concurrency", "respect_windows",
                       "status", "status_message", "actor", "finished_at", "created_at")
    inlines = [RolloutTargetInline]
    actions = ["cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel the selected rollouts (running updates finish)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Rollout]) -> None:
        for rollout in queryset:
            try:
                rollout_cancel(rollout=rollout, actor=f"admin:{request.user}")
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ("team", "start_time", "duration_minutes", "weekdays", "timezone")
    search_fields = ("team__slug", "team__name")


@admin.register(InstanceTemplate)
class InstanceTemplateAdmin(admin.ModelAdmin):
    """Pushes are started with the API or `tenantry updates push-template`; rolled back here too."""

    list_display = ("instance", "name", "version", "previous_version", "updated_by", "updated_at")
    search_fields = ("instance__slug", "name")
    readonly_fields = ("instance", "name", "workflow_id", "version", "previous_version", "previous_definition",
                       "updated_by", "updated_at")
    actions = ["rollback"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Put back the previous version of the selected templates")
    def rollback(self, request: HttpRequest, queryset: QuerySet[InstanceTemplate]) -> None:
        for record in queryset.select_related("instance"):
            try:
                template_rollback(instance=record.instance, name=record.name, actor=f"admin:{request.user}")
            except ApplicationError as exc:
                self.message_user(request, f"{record.instance.slug}: {exc.message}", messages.ERROR)
