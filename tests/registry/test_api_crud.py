"""CRUD of the four registries through the API, addressed by name."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from registry.models import DataSource, ExternalAgent, LLMConfig, RegistryEntry, Tool
from tests.registry import factories


@dataclass(frozen=True)
class Registry:
    path: str
    model: type[RegistryEntry]
    make: Callable[..., RegistryEntry]
    create_body: dict[str, Any]
    put_body: dict[str, Any]
    patch: tuple[str, Any]

    def url(self, name: str = "") -> str:
        return f"/api/{self.path}/" + (f"{name}/" if name else "")


REGISTRIES = [
    Registry(
        "llm/configs",
        LLMConfig,
        factories.llm_config_create,
        {
            "name": "local-llm",
            "model": "llama3.1",
            "base_url": "http://127.0.0.1:11434/v1",
            "api_key": "sk-local-0123456789",
            "temperature": 0.2,
            "max_tokens": 512,
            "reasoning_effort": "low",
            "description": "Ollama on the workstation",
        },
        {"name": "local-llm", "model": "qwen2.5", "base_url": None, "timeout_seconds": 90},
        ("max_retries", 5),
    ),
    Registry(
        "agents",
        ExternalAgent,
        factories.agent_create,
        {
            "name": "billing-agent",
            "url": "https://billing.example.com/agent",
            "auth_token": "agent-token-0123456789",
            "endpoint": "/run",
            "timeout_seconds": 45,
            "metadata": {"team": "billing"},
            "description": "Answers invoice questions",
        },
        {"name": "billing-agent", "url": "http://billing.internal:8080", "endpoint": "/v2/execute"},
        ("timeout_seconds", 120),
    ),
    Registry(
        "tools",
        Tool,
        factories.tool_create,
        {
            "name": "search",
            "type": "web_search",
            "description": "Search the web",
            "config": {"provider": "tavily", "endpoint": "https://api.tavily.example", "max_results": 3},
        },
        {
            "name": "search",
            "type": "http",
            "config": {"base_url": "https://api.example.com", "method": "POST"},
        },
        ("enabled", False),
    ),
    Registry(
        "datasources",
        DataSource,
        factories.datasource_create,
        {
            "name": "warehouse",
            "type": "postgres",
            "url": "postgresql://reader@db.example.com:5432/warehouse",
            "timeout_seconds": 20,
            "config": {"max_rows": 500, "schema": "public"},
        },
        {"name": "warehouse", "type": "cubejs", "url": "https://cube.example.com"},
        ("config", {"max_rows": 10}),
    ),
]
IDS = [r.path for r in REGISTRIES]


@pytest.fixture(params=REGISTRIES, ids=IDS)
def registry(request: pytest.FixtureRequest, db: None) -> Registry:
    return request.param


def test_create_returns_the_entry_and_stores_it(registry, staff_client):
    response = staff_client.post(registry.url(), registry.create_body, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    for key, value in registry.create_body.items():
        if key not in ("api_key", "auth_token"):
            assert body[key] == value
    assert body["created_at"]
    assert body["updated_at"]
    assert registry.model.objects.filter(name=registry.create_body["name"]).exists()


def test_retrieve_by_name(registry, staff_client):
    registry.make(name="by-name", description="find me")

    response = staff_client.get(registry.url("by-name"))

    assert response.status_code == 200
    assert response.json()["name"] == "by-name"
    assert response.json()["description"] == "find me"


def test_unknown_name_is_a_404_envelope(registry, staff_client):
    response = staff_client.get(registry.url("nobody"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_is_paginated_and_ordered_by_name(registry, user_client):
    for name in ("charlie", "alpha", "bravo"):
        registry.make(name=name)

    first = user_client.get(registry.url(), {"page_size": 2}).json()
    second = user_client.get(registry.url(), {"page_size": 2, "page": 2}).json()

    assert first["count"] == 3
    assert [e["name"] for e in first["results"]] == ["alpha", "bravo"]
    assert first["next"]
    assert first["previous"] is None
    assert [e["name"] for e in second["results"]] == ["charlie"]
    assert second["next"] is None


def test_list_ordering(registry, user_client):
    for name in ("alpha", "charlie", "bravo"):
        registry.make(name=name)

    by_name_desc = user_client.get(registry.url(), {"ordering": "-name"}).json()["results"]
    by_creation = user_client.get(registry.url(), {"ordering": "created_at"}).json()["results"]

    assert [e["name"] for e in by_name_desc] == ["charlie", "bravo", "alpha"]
    assert [e["name"] for e in by_creation] == ["alpha", "charlie", "bravo"]


def test_list_filters_by_enabled(registry, user_client):
    registry.make(name="on")
    registry.make(name="off", enabled=False)

    enabled = user_client.get(registry.url(), {"enabled": "true"}).json()["results"]
    disabled = user_client.get(registry.url(), {"enabled": "false"}).json()["results"]
    invalid = user_client.get(registry.url(), {"enabled": "maybe"})

    assert [e["name"] for e in enabled] == ["on"]
    assert [e["name"] for e in disabled] == ["off"]
    assert invalid.status_code == 400
    assert "enabled" in invalid.json()["error"]["fields"]


def test_tools_filter_by_type(user_client):
    factories.tool_create(name="search")
    factories.tool_create(name="calc", type="code_executor", config={})

    body = user_client.get("/api/tools/", {"type": "code_executor"}).json()

    assert [e["name"] for e in body["results"]] == ["calc"]
    assert body["results"][0]["parameters"]["required"] == ["code"]


def test_datasources_filter_by_type(user_client):
    factories.datasource_create(name="cube")
    factories.datasource_create(name="pg", type="postgres", url="postgresql://reader@db.example.com/dw")

    body = user_client.get("/api/datasources/", {"type": "postgres"}).json()

    assert [e["name"] for e in body["results"]] == ["pg"]


def test_put_replaces_the_given_fields(registry, staff_client):
    registry.make(name=registry.put_body["name"])

    response = staff_client.put(registry.url(registry.put_body["name"]), registry.put_body, format="json")

    assert response.status_code == 200, response.json()
    stored = staff_client.get(registry.url(registry.put_body["name"])).json()
    for key, value in registry.put_body.items():
        assert stored[key] == value


def test_patch_changes_one_field_and_keeps_the_rest(registry, staff_client):
    registry.make(name="patched", description="kept")
    field, value = registry.patch

    response = staff_client.patch(registry.url("patched"), {field: value}, format="json")

    assert response.status_code == 200, response.json()
    stored = staff_client.get(registry.url("patched")).json()
    assert stored[field] == value
    assert stored["description"] == "kept"


def test_rename_through_patch_moves_the_address(registry, staff_client):
    registry.make(name="old-name")

    response = staff_client.patch(registry.url("old-name"), {"name": "new-name"}, format="json")

    assert response.status_code == 200
    assert staff_client.get(registry.url("new-name")).status_code == 200
    assert staff_client.get(registry.url("old-name")).status_code == 404


def test_delete_removes_the_entry(registry, staff_client):
    registry.make(name="doomed")

    response = staff_client.delete(registry.url("doomed"))

    assert response.status_code == 204
    assert not registry.model.objects.filter(name="doomed").exists()
    assert staff_client.get(registry.url("doomed")).status_code == 404


def test_duplicate_name_is_a_400_on_name_and_keeps_the_first(registry, staff_client):
    first = staff_client.post(registry.url(), registry.create_body, format="json")
    second = staff_client.post(
        registry.url(), {**registry.create_body, "description": "second"}, format="json"
    )

    assert first.status_code == 201
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "validation_error"
    assert "name" in second.json()["error"]["fields"]
    assert registry.model.objects.get(name=registry.create_body["name"]).description != "second"


def test_rename_onto_an_existing_name_is_refused(registry, staff_client):
    registry.make(name="first")
    registry.make(name="second")

    response = staff_client.patch(registry.url("second"), {"name": "first"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]
    assert registry.model.objects.filter(name="second").exists()


def test_tool_without_parameters_gets_its_type_default(staff_client):
    response = staff_client.post(
        "/api/tools/",
        {"name": "runner", "type": "code_executor", "config": {"timeout_seconds": 5}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["parameters"]["properties"]["code"]["type"] == "string"


def test_agent_defaults_follow_the_contract(staff_client):
    response = staff_client.post(
        "/api/agents/", {"name": "plain", "url": "https://agent.example.com"}, format="json"
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["endpoint"], body["health_path"], body["timeout_seconds"]) == ("/execute", "/health", 30)
    assert body["input_schema"]["required"] == ["task"]
    assert body["auth_token_set"] is False
    assert body["enabled"] is True


def test_tool_types_available_lists_every_type_with_its_schemas(user_client):
    response = user_client.get("/api/tools/types/available")

    assert response.status_code == 200
    types = {t["type"]: t for t in response.json()}
    assert set(types) == {"http", "web_search", "code_executor", "composio", "mcp"}
    assert types["web_search"]["default_parameters"]["required"] == ["query"]
    assert types["code_executor"]["default_parameters"]["required"] == ["code"]
    assert "base_url" in types["http"]["config_schema"]["properties"]
    assert "slug" in types["composio"]["config_schema"]["required"]
    assert all(t["description"] for t in types.values())


def test_changing_a_tools_type_moves_default_parameters_along(staff_client):
    factories.tool_create(name="helper")
    custom = {"type": "object", "properties": {"q": {"type": "string"}}}
    factories.tool_create(name="custom", parameters=custom)

    moved = staff_client.patch("/api/tools/helper/", {"type": "code_executor", "config": {}}, format="json")
    kept = staff_client.patch("/api/tools/custom/", {"type": "code_executor", "config": {}}, format="json")

    assert moved.json()["parameters"]["required"] == ["code"]
    assert kept.json()["parameters"] == custom
