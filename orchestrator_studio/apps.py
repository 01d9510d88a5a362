from django.apps import AppConfig


class OrchestratorStudioConfig(AppConfig):
    name = "orchestrator_studio"
    verbose_name = "Orchestrator Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orchestrator_studio import schema  # noqa: F401  (registers the OpenAPI auth extension)
