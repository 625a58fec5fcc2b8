from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "tenantry.backups"
    label = "backups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The operation engine (tenantry.instances) runs every operation; the backup, restore
        # and clone steps live here and are registered with it, so instances never imports backups.
        from tenantry.backups.steps import register

        register()
