from django.apps import AppConfig


class OrchestratorStudioConfig(AppConfig):
    name = "orchestrator_studio"
    verbose_name = "Orchestrator Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for their side effects: the OpenAPI auth extension, and the signal receivers that drop a
        # token's cached user when the token is deleted or its user changes.
        from django.db.backends.signals import connection_created

        from orchestrator_studio import auth, schema  # noqa: F401
        from orchestrator_studio.postgres_timestamps import timestamptz_loader_install
        from orchestrator_studio.tracing import tracing_configure

        tracing_configure()
        # Postgres `timestamptz` values parsed by psycopg's C parser (postgres_timestamps.py).
        connection_created.connect(timestamptz_loader_install, dispatch_uid="timestamptz_loader_install")
