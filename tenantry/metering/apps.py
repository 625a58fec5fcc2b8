from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "tenantry.metering"
    label = "metering"
