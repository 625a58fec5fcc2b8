from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tenantry.notifications"
    label = "notifications"

    def ready(self) -> None:
        from tenantry.notifications import signals  # noqa: F401  (connects the receivers)
