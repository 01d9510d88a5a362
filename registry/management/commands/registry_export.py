import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from registry.config_files import registry_export


class Command(BaseCommand):
    help = (
        "Write the whole registry as JSON in the format `registry_import` reads, without any secret "
        "(API keys, tokens, secret config keys and DSN passwords are left out)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")

    def handle(self, *args: Any, output: str | None, **options: Any) -> None:
        text = json.dumps(registry_export(), indent=2, ensure_ascii=False) + "\n"
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
