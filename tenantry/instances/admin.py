from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tenantry.core.errors import ApplicationError
from tenantry.instances.models import Instance, Operation, Step
from tenantry.instances.services import operation_retry


class OperationInline(admin.TabularInline):
    model = Operation
    fields = ("kind", "status", "actor", "error_message", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("slug", "team", "app", "status", "desired_state", "server", "memory_mb", "cpus",
                    "last_request_at", "created_at")
    list_filter = ("status", "desired_state", "app", "server", "team")
    search_fields = ("slug", "id", "created_by", "team__name", "team__slug")
    readonly_fields = ("id", "subnet", "status", "status_message", "provisioned_at", "running_since",
                       "last_request_at", "deleted_at", "created_by", "created_at", "updated_at")
    inlines = [OperationInline]


class StepInline(admin.TabularInline):
    model = Step
    fields = ("position", "title", "status", "attempts", "started_at", "finished_at", "log", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ("instance", "kind", "status", "actor", "error_code", "runs", "created_at", "finished_at")
    list_filter = ("status", "kind")
    search_fields = ("instance__slug", "id", "error_message")
    readonly_fields = ("id", "instance", "kind", "status", "actor", "state", "error_code", "error_message", "runs",
                       "worker", "heartbeat_at", "started_at", "finished_at", "created_at")
    inlines = [StepInline]
    actions = ["retry"]

    @admin.action(description="Retry the selected failed operations")
    def retry(self, request: HttpRequest, queryset: QuerySet[Operation]) -> None:
        retried = 0
        for operation in queryset.select_related("instance"):
            try:
                operation_retry(operation=operation, actor=f"admin:{request.user}")
                retried += 1
            except ApplicationError as exc:
                self.message_user(request, f"{operation.instance.slug}: {exc.message}", messages.ERROR)
        if retried:
            self.message_user(request, f"Queued {retried} retr{'y' if retried == 1 else 'ies'}.", messages.SUCCESS)
