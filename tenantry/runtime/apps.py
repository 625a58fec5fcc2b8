from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "tenantry.runtime"
    label = "runtime"
    default_auto_field = "django.db.models.BigAutoField"
