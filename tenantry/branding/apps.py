from django.apps import AppConfig


class BrandingConfig(AppConfig):
    name = "tenantry.branding"
    label = "branding"
