"""The registry as JSON files, in the seed's formats: import (upsert by name) and export (without secrets).

A file is a JSON object with any of the sections `agents`, `tools`, `datasources`, `llm_configs` (lists)
and `llm` (one config, or a list). An entry means exactly what the same JSON means on the API: it goes
through the API's serializer and then `registry_entry_save`, so the same rules and the same secret handling
apply (an omitted secret, or its mask, keeps the stored value). An import is one transaction: if any entry
of any file is invalid, every problem is reported and nothing is written.
"""

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from rest_framework import serializers as drf_serializers

from orchestrator_studio.errors import ValidationFailed
from registry import serializers
from registry.models import DataSource, ExternalAgent, LLMConfig, RegistryEntry, Tool
from registry.services import registry_entry_save

logger = logging.getLogger(__name__)

# Serialises concurrent imports (several server processes starting at once) on Postgres.
_IMPORT_LOCK_ID = 0x5EED_0001
_STATE_EXCLUDED = {"id", "created_at", "updated_at"}


@dataclass(frozen=True)
class Section:
    key: str
    model: type[RegistryEntry]
    serializer: type[drf_serializers.ModelSerializer]
    export_fields: tuple[str, ...]


SECTIONS: dict[str, Section] = {
    section.key: section
    for section in (
        Section(
            "llm_configs",
            LLMConfig,
            serializers.LLMConfigSerializer,
            (
                "name", "model", "base_url", "temperature", "max_tokens", "timeout_seconds", "max_retries",
                "reasoning_effort", "is_default", "enabled", "description", "accepts_images",
            ),
        ),
        Section(
            "agents",
            ExternalAgent,
            serializers.ExternalAgentSerializer,
            (
                "name", "url", "protocol", "endpoint", "health_path", "timeout_seconds", "enabled",
                "description", "metadata", "input_schema", "requires_approval",
            ),
        ),
        Section(
            "tools",
            Tool,
            serializers.ToolSerializer,
            ("name", "type", "description", "enabled", "config", "parameters", "requires_approval"),
        ),
        Section(
            "datasources",
            DataSource,
            serializers.DataSourceSerializer,
            (
                "name", "type", "url", "timeout_seconds", "enabled", "description", "config",
                "requires_approval",
            ),
        ),
    )
}  # fmt: skip
# The seed's single LLM object (or a list): LLM configs whose name defaults to `default` and which become
# the default config unless they say otherwise.
LLM_SECTION = "llm"
KNOWN_SECTIONS = (LLM_SECTION, *SECTIONS)


@dataclass(frozen=True)
class ImportProblem:
    """Why one entry (or a whole file) could not be imported; messages never hold a secret value."""

    file: str
    fields: dict[str, list[str]]
    section: str | None = None
    index: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.section is not None:
            where += f": {self.section}"
            if self.index is not None:
                where += f"[{self.index}]"
            if self.name:
                where += f" ({self.name})"
        details = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.fields.items())
        return f"{where}: {details}"


@dataclass
class ImportReport:
    """Outcome per section: how many entries were created, updated or already as the file says."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, section: str, outcome: str) -> None:
        self.counts.setdefault(section, Counter())[outcome] += 1

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    def lines(self) -> list[str]:
        lines = [
            f"{section}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"
            for section, c in self.counts.items()
        ]
        lines.append(
            f"total: {self.total('created')} created, {self.total('updated')} updated, "
            f"{self.total('unchanged')} unchanged"
        )
        return lines


class RegistryImportFailed(ValidationFailed):
    def __init__(self, problems: list[ImportProblem]):
        super().__init__(f"Nothing was imported: {len(problems)} problem(s).")
        self.problems = problems


IMPORT_ACTOR = "registry_import"


def registry_files_import(*, paths: Sequence[str | Path], actor: str = IMPORT_ACTOR) -> ImportReport:
    """Upsert every entry of every file by name, in one transaction; raises `RegistryImportFailed`.
    Each created or changed entry is audited as done by `actor`."""
    documents, problems = _read_files(paths)
    report = ImportReport()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_ID])
        seen: dict[tuple[str, str], str] = {}
        for file, document in documents:
            for section_key, index, entry in _entries(file, document, problems):
                section = SECTIONS["llm_configs" if section_key == LLM_SECTION else section_key]
                try:
                    data = _normalise(section_key, entry)
                    where = f"{file}: {section_key}" + ("" if index is None else f"[{index}]")
                    _check_not_repeated(seen, where, section, data)
                    report.add(section.key, _upsert(section, data, actor))
                except ValidationFailed as exc:
                    fields = exc.fields or {"non_field_errors": [exc.message]}
                    problems.append(ImportProblem(file, fields, section_key, index, _entry_name(entry)))
        if problems:
            raise RegistryImportFailed(problems)
    return report


def registry_export() -> dict[str, list[dict[str, Any]]]:
    """Every registry entry in the import format, without any secret (secret config keys left out)."""
    exported: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS.values():
        entries = []
        for instance in section.model._default_manager.order_by("name"):
            entries.append({name: getattr(instance, name) for name in section.export_fields})
        exported[section.key] = entries
    return exported


def configured_paths() -> list[Path]:
    """The distinct files named by AGENTS_CONFIG_PATH, TOOLS_CONFIG_PATH and DATASOURCES_CONFIG_PATH."""
    paths: list[Path] = []
    for setting in ("AGENTS_CONFIG_PATH", "TOOLS_CONFIG_PATH", "DATASOURCES_CONFIG_PATH"):
        value = getattr(settings, setting, "")
        if value and Path(value).resolve() not in {p.resolve() for p in paths}:
            paths.append(Path(value))
    return paths


def registry_import_configured_files() -> ImportReport | None:
    """Import the `*_CONFIG_PATH` files, if any are set. Called once per server process at start-up.

    Runs in a thread of its own: servers such as uvicorn load the ASGI application inside their event loop,
    where the ORM may not be used. A bad file stops the start with the list of problems.
    """
    paths = configured_paths()
    if not paths:
        return None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-import") as pool:
        return pool.submit(_import_configured, paths).result()


def _import_configured(paths: list[Path]) -> ImportReport:
    try:
        report = registry_files_import(paths=paths)
    except RegistryImportFailed as exc:
        details = "\n".join(f"  {problem}" for problem in exc.problems)
        raise ImproperlyConfigured(f"The registry files could not be imported:\n{details}") from exc
    finally:
        connection.close()  # this thread's own connection; the thread ends here
    logger.info("Imported registry files %s: %s", ", ".join(map(str, paths)), "; ".join(report.lines()))
    return report


def _read_files(paths: Sequence[str | Path]) -> tuple[list[tuple[str, Any]], list[ImportProblem]]:
    documents: list[tuple[str, Any]] = []
    problems: list[ImportProblem] = []
    for path in paths:
        file = str(path)
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(ImportProblem(file, {"file": ["No such file."]}))
        except OSError as exc:
            problems.append(ImportProblem(file, {"file": [f"Cannot be read: {exc.strerror}."]}))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(ImportProblem(file, {"file": [f"Not valid JSON: {exc}."]}))
        else:
            documents.append((file, document))
    return documents, problems


def _entries(
    file: str, document: Any, problems: list[ImportProblem]
) -> Iterable[tuple[str, int | None, Any]]:
    """(section, index, entry) for every entry of a document; what is malformed goes to `problems`."""
    expected = ", ".join(KNOWN_SECTIONS)
    if not isinstance(document, dict) or not document:
        problems.append(ImportProblem(file, {"file": [f"Must be a JSON object with a section: {expected}."]}))
        return
    for key, entries in document.items():
        if key not in KNOWN_SECTIONS:
            problems.append(ImportProblem(file, {"file": [f"Unknown section {key!r}; expected {expected}."]}))
            continue
        if key == LLM_SECTION and isinstance(entries, dict):
            yield key, None, entries
            continue
        if not isinstance(entries, list):
            problems.append(ImportProblem(file, {"section": ["Must be a list of objects."]}, key))
            continue
        for index, entry in enumerate(entries):
            yield key, index, entry


def _entry_name(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    name = entry.get("name")
    return name if isinstance(name, str) else None


def _normalise(section_key: str, entry: Any) -> dict[str, Any]:
    """The seed's conveniences, mapped onto the API's fields."""
    if not isinstance(entry, dict):
        raise ValidationFailed(
            "Invalid entry.", fields={"non_field_errors": ["Each entry must be a JSON object."]}
        )
    data = dict(entry)
    if section_key == LLM_SECTION:
        data.setdefault("name", "default")
        data.setdefault("is_default", True)
        if "default_model" in data and "model" not in data:
            data["model"] = data.pop("default_model")
    if section_key == "agents":
        # The seed keeps an agent's description in its metadata.
        metadata = data.get("metadata")
        if (
            "description" not in data
            and isinstance(metadata, dict)
            and isinstance(metadata.get("description"), str)
        ):
            data["description"] = metadata["description"]
    return data


def _check_not_repeated(
    seen: dict[tuple[str, str], str], where: str, section: Section, data: dict[str, Any]
) -> None:
    """One import names each entry once: a second entry of the same name would silently win."""
    name = data.get("name")
    if not isinstance(name, str):
        return
    first = seen.setdefault((section.key, name), where)
    if first != where:
        raise ValidationFailed(
            "Invalid entry.",
            fields={"name": [f"{name!r} appears more than once in this import (first at {first})."]},
        )


def _upsert(section: Section, data: dict[str, Any], actor: str) -> str:
    """Create or update one entry; 'created', 'updated' or 'unchanged' (then nothing is written)."""
    fields = section.serializer().fields
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValidationFailed("Invalid entry.", fields={key: ["Unknown field."] for key in unknown})
    # Read-only fields (`created_at`, `api_key_set`, ...) are what the API returns: accepted and ignored.
    data = {key: value for key, value in data.items() if not fields[key].read_only}
    name = data.get("name")
    instance = section.model._default_manager.filter(name=name).first() if isinstance(name, str) else None
    serializer = section.serializer(instance, data=data)
    if not serializer.is_valid():
        raise ValidationFailed("Invalid entry.", fields=_flatten(serializer.errors))
    if instance is None:
        registry_entry_save(instance=section.model(), data=dict(serializer.validated_data), actor=actor)
        return "created"
    before = _state(instance)
    with transaction.atomic():
        saved = registry_entry_save(instance=instance, data=dict(serializer.validated_data), actor=actor)
        if _state(saved) == before:
            # Nothing differs: undo the save so `updated_at` keeps telling when the entry last changed.
            transaction.set_rollback(True)
            return "unchanged"
    return "updated"


def _state(instance: RegistryEntry) -> dict[str, Any]:
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.name not in _STATE_EXCLUDED
    }


def _flatten(errors: Any) -> dict[str, list[str]]:
    return {
        str(key): [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]
        for key, messages in errors.items()
    }
