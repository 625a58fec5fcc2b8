from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "tenantry.events"
    label = "events"
