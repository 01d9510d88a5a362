"""`registry_import` / `registry_export` and the start-up import of the `*_CONFIG_PATH` files."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from registry.config_files import registry_import_configured_files
from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from tests.registry import factories

DATA = Path(__file__).parent / "data"
SEED_FILES = [DATA / "agents.json", DATA / "tools.json", DATA / "datasources.json"]
MODELS = (LLMConfig, ExternalAgent, Tool, DataSource)


def _import(*paths: Path | str) -> str:
    out = io.StringIO()
    call_command("registry_import", *map(str, paths), stdout=out)
    return out.getvalue()


def _failed_import(*paths: Path | str) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("registry_import", *map(str, paths), stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def _snapshot() -> dict:
    """Everything stored, secrets and timestamps included."""
    return {
        model.__name__: [
            {f.attname: getattr(entry, f.attname) for f in model._meta.concrete_fields}
            for entry in model.objects.order_by("name")
        ]
        for model in MODELS
    }


@pytest.mark.django_db
def test_the_seed_examples_import():
    output = _import(*SEED_FILES)

    assert "total: 3 created, 0 updated, 0 unchanged" in output
    agent = ExternalAgent.objects.get(name="zain_agent")
    assert (agent.url, agent.timeout_seconds, agent.enabled) == ("http://localhost:8001", 30, True)
    assert agent.description == "Main Zain agent"
    assert agent.metadata == {"description": "Main Zain agent"}
    assert agent.auth_token == "optional_token"
    assert agent.endpoint == "/execute"
    tool = Tool.objects.get(name="web_search")
    assert tool.type == "web_search"
    assert tool.description == "Search the web"
    assert tool.config == {"endpoint": "https://api.search.com", "provider": "google"}
    assert tool.full_config["api_key"] == "your_api_key"
    assert tool.parameters["required"] == ["query"]
    datasource = DataSource.objects.get(name="churn_analytics")
    assert (datasource.type, datasource.url, datasource.config) == (
        "cubejs",
        "http://localhost:4000",
        {"database": "analytics"},
    )
    assert datasource.auth_token == "optional_token"


@pytest.mark.django_db
def test_the_seed_llm_object_becomes_the_default_config():
    factories.llm_config_create(name="existing")

    output = _import(DATA / "llm.json")

    assert "llm_configs: 1 created" in output
    config = LLMConfig.objects.get(name="default")
    assert config.is_default
    assert (config.model, config.base_url, config.temperature, config.max_retries) == (
        "gpt-4o-mini",
        "https://llm.example.com/v1",
        0.3,
        3,
    )
    assert config.api_key == "sk-seed-llm-key-0000"
    assert not LLMConfig.objects.get(name="existing").is_default


@pytest.mark.django_db
def test_one_file_may_hold_every_section():
    output = _import(DATA / "combined.json")

    assert "total: 5 created" in output
    assert LLMConfig.objects.get(name="local-ollama").base_url == "http://127.0.0.1:11434/v1"
    assert ExternalAgent.objects.get(name="billing-agent").input_schema["properties"]["account"]
    crm = Tool.objects.get(name="crm")
    assert crm.config["headers"] == {}
    assert crm.full_config["headers"] == {"Authorization": "Bearer crm-secret-token-1"}
    assert not Tool.objects.get(name="calculator").enabled
    warehouse = DataSource.objects.get(name="warehouse")
    assert warehouse.url == "postgresql://reader@db.example.com:5432/dw"
    assert warehouse.dsn == "postgresql://reader:wh-secret-pass@db.example.com:5432/dw"


@pytest.mark.django_db
def test_reimport_is_idempotent():
    files = [*SEED_FILES, DATA / "llm.json", DATA / "combined.json"]
    _import(*files)
    before = _snapshot()

    output = _import(*files)

    assert "total: 0 created, 0 updated, 9 unchanged" in output
    assert _snapshot() == before


@pytest.mark.django_db
def test_import_updates_by_name_and_counts_it(tmp_path):
    _import(*SEED_FILES)
    changed = json.loads((DATA / "agents.json").read_text())
    changed["agents"][0]["timeout_seconds"] = 90
    changed["agents"][0].pop("auth_token")
    path = tmp_path / "agents.json"
    path.write_text(json.dumps(changed))

    output = _import(path, DATA / "tools.json")

    assert "agents: 0 created, 1 updated, 0 unchanged" in output
    assert "tools: 0 created, 0 updated, 1 unchanged" in output
    agent = ExternalAgent.objects.get()
    assert agent.timeout_seconds == 90
    assert agent.auth_token == "optional_token"  # an omitted secret is kept
    assert ExternalAgent.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_file_changes_nothing_and_every_problem_is_reported():
    _import(*SEED_FILES)
    before = _snapshot()

    errors = _failed_import(DATA / "combined.json", DATA / "bad.json")

    assert _snapshot() == before
    bad = str(DATA / "bad.json")
    lines = errors.splitlines()
    assert any(line.startswith(f"{bad}: agents[2] (broken-agent): ") and "url" in line for line in lines)
    assert any(
        line.startswith(f"{bad}: agents[2] (broken-agent): ") and "timeout_seconds" in line for line in lines
    )
    assert any(
        line.startswith(f"{bad}: tools[0] (bad-search): config:") and "endpoint" in line for line in lines
    )
    assert any(line.startswith(f"{bad}: datasources[0] (Bad Name): ") and "name" in line for line in lines)
    assert len(lines) == 3
    for secret in ("bad-file-secret-key", "bad-file-db-pass"):
        assert secret not in errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "Not valid JSON"),
        ("[]", "Must be a JSON object"),
        ("{}", "Must be a JSON object"),
        ('{"agentz": []}', "Unknown section 'agentz'"),
        ('{"agents": {"name": "x"}}', "Must be a list of objects"),
        ('{"agents": ["zain_agent"]}', "Each entry must be a JSON object"),
        (
            '{"agents": [{"name": "x", "url": "https://a.example.com", "colour": "red"}]}',
            "colour: Unknown field",
        ),
        ('{"agents": [{"url": "https://a.example.com"}]}', "name: This field is required"),
    ],
)
@pytest.mark.django_db
def test_malformed_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "registry.json"
    path.write_text(content)

    errors = _failed_import(DATA / "agents.json", path)

    assert message in errors
    assert errors.startswith(str(path))
    assert not ExternalAgent.objects.exists()


@pytest.mark.django_db
def test_a_missing_file_is_refused(tmp_path):
    errors = _failed_import(DATA / "agents.json", tmp_path / "absent.json")

    assert "absent.json: file: No such file." in errors
    assert not ExternalAgent.objects.exists()


@pytest.mark.django_db
def test_the_same_name_twice_in_one_import_is_refused(tmp_path):
    twin = tmp_path / "twin.json"
    twin.write_text(json.dumps({"agents": [{"name": "zain_agent", "url": "https://other.example.com"}]}))

    errors = _failed_import(DATA / "agents.json", twin)

    assert "'zain_agent' appears more than once" in errors
    assert not ExternalAgent.objects.exists()


@pytest.mark.django_db
def test_an_api_response_can_be_imported_back(staff_client, tmp_path):
    """Read-only fields and masks, as `GET` returns them, are accepted and keep the stored secrets."""
    factories.agent_create(name="agent", auth_token="agent-token-123456789")
    factories.tool_create(
        name="search",
        config={"provider": "brave", "endpoint": "https://s.example.com", "api_key": "search-123456789"},
    )
    before = _snapshot()
    path = tmp_path / "from-api.json"
    path.write_text(
        json.dumps(
            {
                "agents": staff_client.get("/api/agents/").json()["results"],
                "tools": staff_client.get("/api/tools/").json()["results"],
            }
        )
    )

    output = _import(path)

    assert "total: 0 created, 0 updated, 2 unchanged" in output
    assert _snapshot() == before


@pytest.mark.django_db
def test_export_round_trips(tmp_path):
    _import(*SEED_FILES, DATA / "llm.json", DATA / "combined.json")
    exported = tmp_path / "export.json"
    call_command("registry_export", "--output", str(exported))
    before = _snapshot()

    # Into the same database: nothing to do, secrets untouched.
    assert "total: 0 created, 0 updated, 9 unchanged" in _import(exported)
    assert _snapshot() == before

    # Into an empty one: every entry comes back as it was, without its secrets.
    for model in MODELS:
        model.objects.all().delete()
    assert "total: 9 created" in _import(exported)
    again = tmp_path / "again.json"
    call_command("registry_export", "--output", str(again))
    assert json.loads(again.read_text()) == json.loads(exported.read_text())
    assert LLMConfig.objects.get(is_default=True).name == "default"
    assert ExternalAgent.objects.get(name="zain_agent").auth_token == ""
    assert DataSource.objects.get(name="warehouse").dsn == "postgresql://reader@db.example.com:5432/dw"


@pytest.mark.django_db
def test_export_writes_to_stdout_by_default():
    factories.agent_create(name="agent")

    out = io.StringIO()
    call_command("registry_export", stdout=out)

    exported = json.loads(out.getvalue())
    assert set(exported) == {"llm_configs", "agents", "tools", "datasources"}
    assert [a["name"] for a in exported["agents"]] == ["agent"]


@pytest.mark.django_db
def test_import_without_files_uses_the_configured_paths(settings):
    settings.AGENTS_CONFIG_PATH = str(DATA / "agents.json")
    settings.DATASOURCES_CONFIG_PATH = str(DATA / "datasources.json")

    output = _import()

    assert "total: 2 created" in output
    assert set(ExternalAgent.objects.values_list("name", flat=True)) == {"zain_agent"}
    assert DataSource.objects.filter(name="churn_analytics").exists()


@pytest.mark.django_db
def test_import_without_files_or_configured_paths_says_what_to_do():
    with pytest.raises(CommandError, match="Name at least one FILE"):
        call_command("registry_import")


@pytest.mark.django_db(transaction=True)
def test_start_up_imports_the_configured_files_once_each(settings):
    settings.AGENTS_CONFIG_PATH = str(DATA / "combined.json")
    settings.TOOLS_CONFIG_PATH = str(DATA / "tools.json")
    settings.DATASOURCES_CONFIG_PATH = str(DATA / "combined.json")

    report = registry_import_configured_files()

    assert report is not None
    assert report.total("created") == 6
    assert Tool.objects.count() == 3
    assert registry_import_configured_files().total("unchanged") == 6


@pytest.mark.django_db(transaction=True)
def test_start_up_stops_on_a_bad_file(settings):
    settings.AGENTS_CONFIG_PATH = str(DATA / "agents.json")
    settings.TOOLS_CONFIG_PATH = str(DATA / "bad.json")

    with pytest.raises(ImproperlyConfigured, match="could not be imported") as excinfo:
        registry_import_configured_files()
    assert f"{DATA / 'bad.json'}: agents[2] (broken-agent): url: Enter a valid URL." in str(excinfo.value)
    assert not ExternalAgent.objects.exists()


def test_start_up_without_configured_files_does_nothing(settings):
    """No database access at all (this test has none): nothing is set, nothing is imported."""
    settings.AGENTS_CONFIG_PATH = settings.TOOLS_CONFIG_PATH = settings.DATASOURCES_CONFIG_PATH = ""

    assert registry_import_configured_files() is None


def test_the_asgi_application_imports_the_files_when_it_loads(tmp_path):
    """As uvicorn does it: the application module is imported inside a running event loop."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'startup.sqlite3'}",
        "AGENTS_CONFIG_PATH": str(DATA / "agents.json"),
        "TOOLS_CONFIG_PATH": str(DATA / "tools.json"),
        "DJANGO_SETTINGS_MODULE": "orchestrator_studio.settings",
    }
    base = Path(django_settings.BASE_DIR)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=base, env=env, check=True, timeout=120
    )
    script = (
        "import asyncio\n"
        "async def load():\n"
        "    import orchestrator_studio.asgi\n"
        "asyncio.run(load())\n"
        "from registry.models import ExternalAgent, Tool\n"
        "print(sorted(ExternalAgent.objects.values_list('name', flat=True)), Tool.objects.count())\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=base, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['zain_agent'] 1"
    assert "your_api_key" not in result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_importing_logs_no_secret(settings, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    settings.AGENTS_CONFIG_PATH = str(DATA / "combined.json")
    connection.force_debug_cursor = True
    try:
        _import(DATA / "combined.json", DATA / "llm.json")
        _failed_import(DATA / "bad.json")
        registry_import_configured_files()
    finally:
        connection.force_debug_cursor = False

    assert any("Imported registry files" in r.getMessage() for r in caplog.records)
    for secret in ("crm-secret-token-1", "wh-secret-pass", "sk-seed-llm-key-0000", "bad-file-secret-key"):
        assert secret not in caplog.text
        assert not any(secret in r.getMessage() for r in caplog.records)
