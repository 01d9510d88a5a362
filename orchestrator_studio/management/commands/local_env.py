from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator_studio.local_env import local_env_write


class Command(BaseCommand):
    help = "Local development only: write the settings `make run` uses to .env (unless it exists)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=None, help="Default: the file settings read.")

    def handle(self, *args: Any, path: Path | None, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("local_env runs only with DEBUG=true.")
        target = path or settings.ENV_FILE
        if local_env_write(path=target):
            self.stdout.write(f"Wrote {target}: DEBUG, SECRET_KEY, FIELD_ENCRYPTION_KEYS, DATABASE_URL.")
        else:
            self.stdout.write(f"Kept the existing {target}.")
