from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tenantry.notifications"
    label = "notifications"
