from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "tenantry.support"
    label = "support"
