import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator_studio.services import api_token_reissue

CREDENTIALS_FILE = Path(settings.BASE_DIR) / ".local" / "admin-credentials"
# `make run` revokes the token it issued last time: one valid token of this name at a time.
TOKEN_NAME = "make run"  # noqa: S105 (a token's label)


class Command(BaseCommand):
    help = "Local development only: make an admin user if none exists and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("bootstrap_local runs only with DEBUG=true.")
        user_model = get_user_model()
        admin = user_model.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = user_model.objects.create_superuser(username="admin", email="", password=password)
            CREDENTIALS_FILE.parent.mkdir(exist_ok=True)
            CREDENTIALS_FILE.write_text(f"{admin.username}\n{password}\n")
            CREDENTIALS_FILE.chmod(0o600)
        if CREDENTIALS_FILE.exists():
            username, password = CREDENTIALS_FILE.read_text().split("\n")[:2]
        else:
            username, password = admin.username, "(set before; `manage.py changepassword` resets it)"
        _, token = api_token_reissue(user=admin, name=TOKEN_NAME, actor="bootstrap_local")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Admin:       {url}admin/   user {username}   password {password}",
                    f"  Playground:  {url}playground/",
                    f"  Dashboard:   {url}dashboard/",
                    f"  API docs:    {url}docs",
                    f"  API token:   {token}   (the one of the last `make run` is revoked)",
                    f'  Try:         curl -H "Authorization: Bearer {token}" {url}api/agents/',
                    "  More tokens: make token USER=alice [STAFF=1]",
                    "",
                ]
            )
        )
