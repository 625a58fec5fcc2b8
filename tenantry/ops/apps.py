from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Tenantry in production: health, readiness, metrics, `init` and `doctor`."""

    name = "tenantry.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"
