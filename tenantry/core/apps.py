from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tenantry.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenantry.core.audit import track_models

        track_models()
