from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from monitoring import system

        # cpu_percent() compares with its previous call: take that first sample now, not in a request.
        system.prime()
