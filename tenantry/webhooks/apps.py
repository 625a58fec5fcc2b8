from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "tenantry.webhooks"
    label = "webhooks"
