from django.apps import AppConfig


class EdgeConfig(AppConfig):
    name = "tenantry.edge"
    label = "edge"

    def ready(self) -> None:
        from tenantry.edge import checks  # noqa: F401 - registers the start-up checks
