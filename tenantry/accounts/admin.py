from django.contrib import admin

from tenantry.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "hashed", "last_used_at", "created_at")
    exclude = ("hashed",)
