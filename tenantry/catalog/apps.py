from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "tenantry.catalog"
    label = "catalog"
