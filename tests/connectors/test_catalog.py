"""The function catalogue a run offers, and calling through it."""

import json
import re

import pytest
from asgiref.sync import async_to_sync

from registry.catalog import (
    Catalog,
    FunctionSpec,
    catalog_build,
    catalog_call,
    function_name_for,
)
from tests.connectors import factories
from tests.fakes.scripted_reply import Reply, hang_reply

# What OpenAI accepts as a function name.
OPENAI_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CONTEXT = {"thread_id": "t-1", "run_id": "r-1", "user_id": "u-1"}


def build() -> Catalog:
    return async_to_sync(catalog_build)()


def call(catalog: Catalog, name: str, arguments, context=CONTEXT):
    return async_to_sync(catalog_call)(catalog, name, arguments, context=context)


@pytest.fixture
def registry(db, fake_agent, fake_search, fake_datasource):
    factories.agent(save=True, name="billing", url=fake_agent.base_url, auth_token=fake_agent.token)
    factories.agent(save=True, name="old-agent", url=fake_agent.base_url, enabled=False)
    factories.tool(
        save=True,
        name="web",
        type="web_search",
        description="Search the web.",
        config={"provider": "searxng", "endpoint": fake_search.searxng_url, "max_results": 2},
    )
    factories.tool(
        save=True,
        name="off-tool",
        type="web_search",
        enabled=False,
        config={"provider": "searxng", "endpoint": fake_search.searxng_url},
    )
    factories.datasource(name="crm", url=fake_datasource.base_url, auth_token=fake_datasource.token)


def test_catalog_offers_every_enabled_entry_with_valid_unique_names(registry):
    catalog = build()
    specs = {(s.kind, s.resource_name): s for s in catalog.functions.values()}
    assert set(specs) == {("agent", "billing"), ("tool", "web"), ("datasource", "crm")}
    names = [s.function_name for s in catalog.functions.values()]
    assert len(set(names)) == len(names)
    for spec in catalog.functions.values():
        assert OPENAI_FUNCTION_NAME.match(spec.function_name)
        assert spec.resource_name in spec.function_name
        assert spec.description
        assert spec.parameters["type"] == "object"
    assert specs[("agent", "billing")].parameters == {
        "type": "object",
        "properties": {"task": {"type": "string"}},
        "required": ["task"],
    }
    assert specs[("datasource", "crm")].parameters == {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    }
    assert specs[("tool", "web")].parameters["required"] == ["query"]
    assert specs[("agent", "billing")].timeout_seconds == 5


def test_registry_schemas_endpoint_is_exactly_the_catalogue(registry, user_client):
    response = user_client.get("/api/tools/registry/schemas")
    assert response.status_code == 200
    assert response.json() == build().openai_tools()
    tools = response.json()
    assert {t["function"]["name"] for t in tools} == {"agent__billing", "tool__web", "datasource__crm"}
    assert all(t["type"] == "function" for t in tools)
    assert {"name", "description", "parameters"} == set(tools[0]["function"])


def test_long_names_still_fit_and_stay_unique():
    long_name = "a" * 63
    names = {function_name_for(kind, long_name) for kind in ("tool", "agent", "datasource")}
    assert len(names) == 3
    for name in names:
        assert OPENAI_FUNCTION_NAME.match(name)
        assert long_name in name
    assert function_name_for("agent", "x" * 57) == "agent__" + "x" * 57
    assert function_name_for("agent", "x" * 58) == "A_" + "x" * 58
    assert function_name_for("agent", "gent__" + "x" * 57) != function_name_for("agent", "x" * 57)


def test_call_agent_sends_task_context_and_arguments(registry, fake_agent):
    catalog = build()
    result = call(catalog, "agent__billing", {"task": "refund order 7"})
    assert result.ok, result.error
    assert result.output["result"] == "done: refund order 7"
    assert fake_agent.requests[-1].json() == {"task": "refund order 7", "context": CONTEXT}
    assert fake_agent.requests[-1].headers["authorization"] == f"Bearer {fake_agent.token}"


def test_context_cannot_be_overridden_by_arguments(db, fake_agent):
    schema = {"type": "object", "properties": {"task": {"type": "string"}, "context": {"type": "object"}}}
    factories.agent(
        save=True, name="billing", url=fake_agent.base_url, auth_token=fake_agent.token, input_schema=schema
    )
    result = call(build(), "agent__billing", {"task": "t", "context": {"user_id": "someone-else"}})
    assert result.ok
    assert fake_agent.requests[-1].json()["context"] == CONTEXT


def test_call_agent_failure_is_ok_false_with_answer(registry, fake_agent):
    fake_agent.script(Reply(status=500, body=json.dumps({"detail": "boom"}).encode()))
    result = call(build(), "agent__billing", {"task": "t"})
    assert not result.ok
    assert "HTTP 500" in result.error
    assert result.output == {"detail": "boom"}


def test_call_is_bounded_by_the_resource_timeout(db, fake_agent):
    factories.agent(
        save=True, name="slow", url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=1
    )
    fake_agent.script(hang_reply())
    result = call(build(), "agent__slow", {"task": "t"})
    assert not result.ok
    assert "within 1s" in result.error
    assert result.latency_ms < 10_000


def test_call_tool(registry, fake_search):
    result = call(build(), "tool__web", {"query": "channels"})
    assert result.ok, result.error
    assert [r["title"] for r in result.output["results"]] == [
        "Result 1 for channels",
        "Result 2 for channels",
    ]


def test_call_datasource(registry, fake_datasource):
    result = call(build(), "datasource__crm", {"query": "customers"})
    assert result.ok, result.error
    assert result.output["row_count"] == 3
    assert fake_datasource.requests[-1].headers["authorization"] == f"Bearer {fake_datasource.token}"


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("agent__billing", {}, "'task' is a required property"),
        ("agent__billing", {"task": 5}, "task: 5 is not of type 'string'"),
        ("tool__web", "not an object", "arguments must be a JSON object"),
        ("datasource__crm", {"query": ["x"]}, "query:"),
        ("agent__nobody", {"task": "t"}, "Unknown function 'agent__nobody'"),
    ],
)
def test_bad_calls_are_ok_false_and_send_nothing(registry, fake_agent, fake_search, name, arguments, message):
    result = call(build(), name, arguments)
    assert not result.ok
    assert message in result.error
    assert fake_agent.requests == []
    assert fake_search.requests == []


async def test_call_without_a_registry_row_for_the_name_is_ok_false(db):
    spec = FunctionSpec("tool__gone", "tool", "gone", "Gone.", {"type": "object"}, 5.0)
    result = await catalog_call(Catalog(functions={"tool__gone": spec}), "tool__gone", {}, context=CONTEXT)
    assert not result.ok
    assert "no longer registered" in result.error


def test_composio_tool_without_parameters_offers_composio_schema(db, fake_composio):
    factories.tool(save=True, name="hn", type="composio", config={"slug": "HACKERNEWS_SEARCH_POSTS"})
    [spec] = build().functions.values()
    assert spec.parameters["properties"]["query"] == {"type": "string"}
    assert spec.parameters["required"] == ["query"]


def test_composio_tool_call_through_the_catalogue(db, fake_composio):
    factories.tool(save=True, name="hn", type="composio", config={"slug": "HACKERNEWS_SEARCH_POSTS"})
    result = call(build(), "tool__hn", {"query": "django"})
    assert result.ok, result.error
    [execute] = fake_composio.api_requests("POST")
    assert execute.json()["arguments"] == {"query": "django"}
