from django.contrib import admin

from tenantry.runtime.models import Server


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ("name", "backend", "capacity", "is_active")
