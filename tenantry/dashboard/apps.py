from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "tenantry.dashboard"
    label = "dashboard"
