from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "tenantry.privacy"
    label = "privacy"
    verbose_name = "Audit trail and personal data"
