from django.apps import AppConfig


class UpdatesConfig(AppConfig):
    name = "tenantry.updates"
    label = "updates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The operation engine (tenantry.instances) runs update operations; their steps and
        # their rollback live here and are registered with it, as the backups app does.
        from tenantry.updates.steps import register

        register()
