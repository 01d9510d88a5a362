from django.apps import AppConfig


class DoorsConfig(AppConfig):
    """The front doors: the OpenAI-compatible API, the A2A server and the MCP server. Each one translates a
    request into an ordinary thread and run (`threads.services.run_start`) and follows the run's events."""

    name = "doors"
    default_auto_field = "django.db.models.BigAutoField"
