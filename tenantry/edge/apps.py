from django.apps import AppConfig


class EdgeConfig(AppConfig):
    name = "tenantry.edge"
    label = "edge"
