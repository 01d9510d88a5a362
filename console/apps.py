from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator's pages: the playground and the dashboard (staff, session login)."""

    name = "console"
    default_auto_field = "django.db.models.BigAutoField"
