from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.config_files import RegistryImportFailed, configured_paths, registry_files_import


class Command(BaseCommand):
    help = (
        "Create or update registry entries by name from JSON files in the seed's formats "
        '({"agents": [...]}, {"tools": [...]}, {"datasources": [...]}, '
        '{"llm": {...}} or {"llm_configs": [...]}). All or nothing: if any entry is invalid, every '
        "problem is listed and nothing is written. Without FILE, imports the files named by "
        "AGENTS_CONFIG_PATH, TOOLS_CONFIG_PATH and DATASOURCES_CONFIG_PATH."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", metavar="FILE")

    def handle(self, *args: Any, files: list[str], **options: Any) -> None:
        paths = files or configured_paths()
        if not paths:
            raise CommandError("Name at least one FILE (or set AGENTS_CONFIG_PATH, TOOLS_CONFIG_PATH, ...).")
        try:
            report = registry_files_import(paths=paths)
        except RegistryImportFailed as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(exc.message) from exc
        for line in report.lines():
            self.stdout.write(line)
