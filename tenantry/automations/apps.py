from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "tenantry.automations"
    label = "automations"
