from django.apps import AppConfig
from django.conf import settings


class ThreadsConfig(AppConfig):
    name = "threads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.handlers.asgi import ASGIHandler
        from django.core.signals import request_started

        from threads.executors import executor_check, scheduling_on_server_start

        executor_check(settings.RUN_EXECUTOR)
        # Only a real ASGI server process (not the test client): its first request starts the recovery
        # sweeps, since no database work may happen while the app loads.
        request_started.connect(
            scheduling_on_server_start, sender=ASGIHandler, dispatch_uid="threads.scheduling_on_server_start"
        )
