"""The Composio connector as the tools connector and the engine use it, against the Composio stand-in."""

import time

import pytest

from orchestrator_studio.errors import NotFound, ServiceUnavailable, ValidationFailed
from registry.connectors.composio import (
    ComposioFailed,
    ComposioTimeout,
    ComposioToolFailed,
    composio_default_parameters,
    composio_execute,
    composio_tool_call,
    composio_tool_probe,
    composio_tool_schema,
)
from registry.connectors.tools import tool_probe
from tests.connectors import factories

ISSUE = {"owner": "acme", "repo": "rockets", "title": "Fuel leak"}


def _executions(fake):
    return [r.json() for r in fake.api_requests("POST", "/api/v3.1/tools/execute/GITHUB_CREATE_AN_ISSUE")]


async def test_execute_sends_arguments_user_and_pinned_version(fake_composio):
    account = fake_composio.add_account(user_id="user-7", toolkit="github")
    config = {"slug": "GITHUB_CREATE_AN_ISSUE", "user_id": "user-7", "version": "20250901_00"}

    result = await composio_execute(config, ISSUE, timeout=10)

    assert result == {
        "tool": "GITHUB_CREATE_AN_ISSUE",
        "version": "20250901_00",
        "user_id": "user-7",
        "connected_account_id": account["id"],
        "arguments": ISSUE,
    }
    (sent,) = _executions(fake_composio)
    assert sent["user_id"] == "user-7"
    assert sent["version"] == "20250901_00"
    assert sent["arguments"] == ISSUE
    execute_request = fake_composio.api_requests("POST")[0]
    assert execute_request.headers["x-api-key"] == fake_composio.api_key


async def test_execute_without_a_version_runs_the_version_whose_schema_was_offered(fake_composio):
    fake_composio.add_account(user_id="user-7", toolkit="github")
    config = {"slug": "GITHUB_CREATE_AN_ISSUE", "user_id": "user-7"}

    parameters = await composio_default_parameters(config)
    result = await composio_tool_call(config, {**ISSUE, "labels": ["bug"]}, timeout=10)

    assert "labels" in parameters["properties"]
    assert result["version"] == "20251001_00"
    assert _executions(fake_composio)[0]["version"] == "20251001_00"


async def test_default_parameters_follow_the_pinned_version(fake_composio):
    pinned = await composio_default_parameters({"slug": "GITHUB_CREATE_AN_ISSUE", "version": "20250901_00"})

    assert set(pinned["properties"]) == {"owner", "repo", "title", "body"}
    assert pinned["required"] == ["owner", "repo", "title"]


async def test_tool_schemas_are_cached(fake_composio):
    first = await composio_tool_schema("HACKERNEWS_SEARCH_POSTS")
    calls = len(fake_composio.api_requests())
    second = await composio_tool_schema("HACKERNEWS_SEARCH_POSTS")

    assert second == first
    assert len(fake_composio.api_requests()) == calls


async def test_execute_uses_the_default_user_when_none_is_configured(fake_composio):
    result = await composio_execute({"slug": "HACKERNEWS_SEARCH_POSTS"}, {"query": "rust"}, timeout=10)

    assert result["user_id"] == "default"
    assert result["arguments"] == {"query": "rust"}


async def test_a_tool_that_reports_failure_is_an_error_with_its_reason(fake_composio):
    with pytest.raises(ComposioToolFailed, match="'query' is a required property"):
        await composio_execute({"slug": "HACKERNEWS_SEARCH_POSTS"}, {"size": 3}, timeout=10)


async def test_executing_for_a_user_without_a_connection_says_so(fake_composio):
    config = {"slug": "GITHUB_CREATE_AN_ISSUE", "user_id": "nobody", "version": "20251001_00"}

    with pytest.raises(ValidationFailed, match="No active connected account found for user nobody"):
        await composio_execute(config, ISSUE, timeout=10)


async def test_executing_an_unknown_tool_is_not_found(fake_composio):
    with pytest.raises(NotFound):
        await composio_execute({"slug": "GITHUB_DOES_NOT_EXIST"}, {}, timeout=10)


async def test_an_unknown_pinned_version_is_refused(fake_composio):
    config = {"slug": "HACKERNEWS_SEARCH_POSTS", "version": "19990101_00"}

    with pytest.raises(ValidationFailed, match="has no version 19990101_00"):
        await composio_execute(config, {"query": "x"}, timeout=10)


async def test_a_slow_composio_times_out(fake_composio):
    fake_composio.delay = 5
    started = time.monotonic()

    with pytest.raises(ComposioTimeout):
        await composio_execute({"slug": "HACKERNEWS_SEARCH_POSTS"}, {"query": "x"}, timeout=0.5)
    assert time.monotonic() - started < 5


async def test_a_failing_composio_is_a_clear_error_on_execute(fake_composio):
    fake_composio.failure = (502, b"upstream exploded", "text/plain")

    with pytest.raises(ComposioFailed, match="HTTP 502") as raised:
        await composio_execute(
            {"slug": "HACKERNEWS_SEARCH_POSTS", "version": "x"}, {"query": "x"}, timeout=10
        )
    assert fake_composio.api_key not in str(raised.value)


async def test_execute_without_an_api_key_is_service_unavailable(settings):
    settings.COMPOSIO_API_KEY = ""

    with pytest.raises(ServiceUnavailable, match="COMPOSIO_API_KEY"):
        await composio_execute({"slug": "HACKERNEWS_SEARCH_POSTS"}, {"query": "x"}, timeout=10)


async def test_probe_passes_for_a_tool_that_needs_no_connection(fake_composio):
    result = await tool_probe(factories.tool(type="composio", config={"slug": "HACKERNEWS_GET_ITEM_WITH_ID"}))

    assert result.ok, result.error
    asked = [r.path for r in fake_composio.api_requests("GET")]
    assert asked == ["/api/v3.1/tools/HACKERNEWS_GET_ITEM_WITH_ID"]


async def test_probe_passes_when_the_user_is_connected(fake_composio):
    fake_composio.add_account(user_id="user-7", toolkit="github")
    tool = factories.tool(type="composio", config={"slug": "GITHUB_STAR_A_REPOSITORY", "user_id": "user-7"})

    result = await tool_probe(tool)

    assert result.ok, result.error
    [accounts] = fake_composio.api_requests("GET", "/api/v3.1/connected_accounts")
    assert accounts.query["user_ids"] == ["user-7"]


async def test_probe_fails_when_the_user_has_no_active_connection(fake_composio):
    fake_composio.add_account(user_id="user-7", toolkit="github", status="INITIATED")

    with pytest.raises(ComposioFailed, match="no active Composio connection for github"):
        await composio_tool_probe({"slug": "GITHUB_STAR_A_REPOSITORY", "user_id": "user-7"})


async def test_probe_fails_for_an_unknown_tool_or_version(fake_composio):
    with pytest.raises(NotFound):
        await composio_tool_probe({"slug": "NOPE_NOT_A_TOOL"})
    with pytest.raises(NotFound, match="version 19990101_00"):
        await composio_tool_probe({"slug": "HACKERNEWS_SEARCH_POSTS", "version": "19990101_00"})


async def test_probe_reaches_composio_even_when_the_schema_is_cached(fake_composio):
    await composio_tool_schema("HACKERNEWS_SEARCH_POSTS")
    fake_composio.failure = (500, b"{}", "application/json")

    with pytest.raises(ComposioFailed):
        await composio_tool_probe({"slug": "HACKERNEWS_SEARCH_POSTS"})
