"""Secrets saved before every header value counted as one, and DSN passwords saved in a query string, move
into the encrypted fields (see `registry.secrets`)."""

from typing import Any

from django.db import migrations

from registry import secrets


def move_hidden_secrets(apps: Any, schema_editor: Any) -> None:
    for model_name in ("Tool", "DataSource"):
        for entry in apps.get_model("registry", model_name).objects.all():
            changed: list[str] = []
            headers = (entry.config or {}).get("headers")
            if isinstance(headers, dict) and headers:
                moved = {f"headers.{name}": value for name, value in headers.items()}
                entry.secret_config = {**moved, **entry.secret_config}
                entry.config = {**entry.config, "headers": {}}
                changed += ["config", "secret_config"]
            if model_name == "DataSource":
                url, password = secrets.split_dsn(entry.url)
                if password:
                    entry.url = url
                    entry.url_password = entry.url_password or password
                    changed += ["url", "url_password"]
            if changed:
                entry.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_agent_protocol")]

    operations = [migrations.RunPython(move_hidden_secrets, migrations.RunPython.noop)]
