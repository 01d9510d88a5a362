"""Every invalid write is a 400 that names the field, and changes nothing."""

import pytest

from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from tests.registry import factories

VALID = {
    "llm/configs": {"name": "llm-x", "model": "gpt-4o"},
    "agents": {"name": "agent-x", "url": "https://agent.example.com"},
    "tools": {"name": "tool-x", "type": "code_executor", "config": {}},
    "datasources": {"name": "ds-x", "type": "cubejs", "url": "https://cube.example.com"},
}
MODELS = {"llm/configs": LLMConfig, "agents": ExternalAgent, "tools": Tool, "datasources": DataSource}

INVALID_CREATES = [
    # (registry, overrides, field named in the error)
    *[(path, {"name": bad}, "name") for path in VALID for bad in ("Has Caps", "-leading", "x" * 64, "")],
    ("llm/configs", {"base_url": "ftp://llm.example.com"}, "base_url"),
    ("llm/configs", {"timeout_seconds": 0.5}, "timeout_seconds"),
    ("llm/configs", {"temperature": 3}, "temperature"),
    ("llm/configs", {"reasoning_effort": "extreme"}, "reasoning_effort"),
    ("agents", {"url": "ftp://agent.example.com"}, "url"),
    ("agents", {"url": "javascript:alert(1)"}, "url"),
    ("agents", {"timeout_seconds": 0}, "timeout_seconds"),
    ("agents", {"timeout_seconds": 601}, "timeout_seconds"),
    ("agents", {"endpoint": "https://elsewhere.example.com/run"}, "endpoint"),
    ("agents", {"health_path": "/../../admin"}, "health_path"),
    (
        "agents",
        {"input_schema": {"type": "object", "properties": {"task": {"type": "txet"}}}},
        "input_schema",
    ),
    ("agents", {"input_schema": {"type": "array"}}, "input_schema"),
    ("agents", {"metadata": ["not", "an", "object"]}, "metadata"),
    ("tools", {"type": "teleporter"}, "type"),
    ("tools", {"parameters": {"type": "object", "properties": {"code": {"type": 12}}}}, "parameters"),
    ("tools", {"parameters": {"type": "object", "required": "code"}}, "parameters"),
    ("tools", {"config": {"memory_mb": 1}}, "config"),
    ("tools", {"config": {"unknown_option": True}}, "config"),
    ("tools", {"type": "web_search", "config": {"provider": "searxng"}}, "config"),
    ("tools", {"type": "http", "config": {"base_url": "file:///etc/passwd"}}, "config"),
    ("tools", {"type": "composio", "config": {}}, "config"),
    ("tools", {"config": "not an object"}, "config"),
    ("datasources", {"type": "postgres", "url": "mysql://root@db.example.com/dw"}, "url"),
    ("datasources", {"type": "postgres", "url": "https://db.example.com"}, "url"),
    ("datasources", {"url": "ftp://cube.example.com"}, "url"),
    ("datasources", {"type": "mongodb"}, "type"),
    ("datasources", {"timeout_seconds": 601}, "timeout_seconds"),
    ("datasources", {"config": {"max_rows": 0}}, "config"),
]


def _ids(case: tuple) -> str:
    path, overrides, field = case
    return f"{path}-{field}-{next(iter(overrides.values()))!r}"[:60]


@pytest.mark.parametrize(("path", "overrides", "field"), INVALID_CREATES, ids=map(_ids, INVALID_CREATES))
def test_invalid_create_is_a_400_naming_the_field_and_writes_nothing(staff_client, path, overrides, field):
    response = staff_client.post(f"/api/{path}/", {**VALID[path], **overrides}, format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert MODELS[path].objects.count() == 0


@pytest.mark.parametrize("path", list(VALID))
def test_the_valid_baseline_is_accepted(staff_client, path):
    """The payloads above fail because of their one override, not because the baseline is wrong."""
    assert staff_client.post(f"/api/{path}/", VALID[path], format="json").status_code == 201


INVALID_UPDATES = [
    ("agents", factories.agent_create, {"url": "gopher://agent.example.com"}, "url"),
    ("llm/configs", factories.llm_config_create, {"max_retries": 50}, "max_retries"),
    (
        "tools",
        factories.tool_create,
        {"config": {"provider": "altavista", "endpoint": "https://x.io"}},
        "config",
    ),
    ("datasources", factories.datasource_create, {"timeout_seconds": 0}, "timeout_seconds"),
]


@pytest.mark.parametrize(
    ("path", "make", "change", "field"), INVALID_UPDATES, ids=[c[0] for c in INVALID_UPDATES]
)
@pytest.mark.parametrize("method", ["patch", "put"])
def test_invalid_update_is_a_400_and_keeps_the_stored_entry(staff_client, path, make, change, field, method):
    entry = make(name="stable", description="unchanged")
    before = staff_client.get(f"/api/{path}/stable/").json()
    body = change if method == "patch" else {**before, **change}

    response = getattr(staff_client, method)(f"/api/{path}/stable/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert staff_client.get(f"/api/{path}/stable/").json() == before
    entry.refresh_from_db()
    assert entry.description == "unchanged"


def test_tool_type_change_is_checked_against_the_new_type(staff_client):
    factories.tool_create(name="search")

    response = staff_client.patch("/api/tools/search/", {"type": "composio"}, format="json")

    assert response.status_code == 400
    assert "config" in response.json()["error"]["fields"]
    assert Tool.objects.get(name="search").type == "web_search"


def test_an_invalid_secret_value_is_not_echoed(staff_client):
    response = staff_client.post(
        "/api/tools/",
        {
            "name": "api",
            "type": "http",
            "config": {"base_url": "https://api.example.com", "headers": {"Authorization": 987654321}},
        },
        format="json",
    )

    assert response.status_code == 400
    assert "config" in response.json()["error"]["fields"]
    assert "987654321" not in response.content.decode()
