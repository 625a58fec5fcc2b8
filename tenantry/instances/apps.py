from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "tenantry.instances"
    label = "instances"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenantry.instances import tasks  # noqa: F401  (registers the queue's tasks)
