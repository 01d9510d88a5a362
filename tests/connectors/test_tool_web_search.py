"""The `web_search` tool against SearXNG, Tavily and Brave style APIs on loopback."""

import logging

import pytest

from orchestrator_studio.errors import DomainError
from registry.connectors.tools import ToolError, tool_call, tool_probe
from tests.connectors import factories
from tests.fakes.scripted_reply import hang_reply, json_reply, malformed_reply, text_reply
from tests.fakes.server import free_port


def search_tool(provider, endpoint, **config):
    return factories.tool(
        name="search", type="web_search", config={"provider": provider, "endpoint": endpoint, **config}
    )


async def test_searxng_results_are_normalised_and_capped(fake_search):
    tool = search_tool("searxng", fake_search.searxng_url, max_results=3)
    output = await tool_call(tool, {"query": "django channels"})
    assert output == {
        "results": [
            {
                "title": f"Result {i} for django channels",
                "url": f"https://example.com/{i}",
                "snippet": f"About django channels ({i})",
            }
            for i in (1, 2, 3)
        ]
    }
    [request] = fake_search.requests
    assert request.query == {"q": ["django channels"], "format": ["json"]}


async def test_tavily_sends_key_as_bearer(fake_search, caplog):
    caplog.set_level(logging.DEBUG)
    tool = search_tool("tavily", fake_search.tavily_url, api_key=fake_search.api_key, max_results=2)
    output = await tool_call(tool, {"query": "pgvector"})
    assert [r["title"] for r in output["results"]] == ["Result 1 for pgvector", "Result 2 for pgvector"]
    [request] = fake_search.requests
    assert request.headers["authorization"] == f"Bearer {fake_search.api_key}"
    assert request.json() == {"query": "pgvector", "max_results": 2}
    assert fake_search.api_key not in str(output)
    assert fake_search.api_key not in caplog.text


async def test_brave_sends_subscription_token_and_strips_markup(fake_search):
    tool = search_tool("brave", fake_search.brave_url, api_key=fake_search.api_key, max_results=4)
    output = await tool_call(tool, {"query": "uvicorn"})
    assert len(output["results"]) == 4
    assert output["results"][0]["snippet"] == "uvicorn & more (1)"
    [request] = fake_search.requests
    assert request.headers["x-subscription-token"] == fake_search.api_key
    assert request.query["count"] == ["4"]


async def test_google_sends_key_and_engine_id(fake_search):
    tool = search_tool(
        "google", fake_search.google_url, api_key=fake_search.api_key, cx="engine-1", max_results=2
    )
    output = await tool_call(tool, {"query": "uvicorn"})
    assert [hit["url"] for hit in output["results"]] == ["https://example.com/1", "https://example.com/2"]
    assert output["results"][0]["title"] == "Result 1 for uvicorn"
    [request] = fake_search.requests
    assert request.query["cx"] == ["engine-1"]
    assert request.query["key"] == [fake_search.api_key]


async def test_google_without_engine_id_is_refused_unsent(fake_search):
    tool = search_tool("google", fake_search.google_url, api_key=fake_search.api_key)
    with pytest.raises(ToolError, match=r"config\.cx"):
        await tool_call(tool, {"query": "uvicorn"})
    assert fake_search.requests == []


@pytest.mark.parametrize(("provider", "status"), [("tavily", 401), ("brave", 422), ("google", 400)])
async def test_wrong_key_is_a_clear_failure(fake_search, provider, status):
    url = getattr(fake_search, f"{provider}_url")
    tool = search_tool(provider, url, api_key="wrong-key-1234567", cx="engine-1")
    with pytest.raises(ToolError, match=f"HTTP {status}"):
        await tool_call(tool, {"query": "x"})


async def test_keyed_provider_without_key_is_refused_unsent(fake_search):
    with pytest.raises(ToolError, match=r"needs config\.api_key"):
        await tool_call(search_tool("tavily", fake_search.tavily_url), {"query": "x"})
    assert fake_search.requests == []


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (malformed_reply(), "malformed"),
        (text_reply("<html>busy</html>", status=503, content_type="text/html"), "HTTP 503"),
        (json_reply({"results": "nope"}), "without a list"),
        (json_reply({"error": "bad query"}, status=400), "HTTP 400"),
    ],
)
async def test_provider_failures(fake_search, reply, message):
    fake_search.script(reply)
    with pytest.raises(ToolError, match=message):
        await tool_call(search_tool("searxng", fake_search.searxng_url), {"query": "x"})


async def test_timeout(fake_search):
    fake_search.script(hang_reply())
    with pytest.raises(DomainError, match="within 1s"):
        await tool_call(search_tool("searxng", fake_search.searxng_url, timeout=1), {"query": "x"})


async def test_connection_refused():
    with pytest.raises(DomainError, match="connection refused"):
        await tool_call(search_tool("searxng", f"http://127.0.0.1:{free_port()}/search"), {"query": "x"})


async def test_empty_query_is_refused(fake_search):
    with pytest.raises(ToolError, match="non-empty"):
        await tool_call(search_tool("searxng", fake_search.searxng_url), {"query": "  "})


async def test_probe_runs_a_real_search(fake_search):
    result = await tool_probe(search_tool("searxng", fake_search.searxng_url, max_results=2))
    assert result.ok
    assert result.detail["result"]["query"] == "test"
    assert [hit["title"] for hit in result.detail["result"]["results"]] == [
        "Result 1 for test",
        "Result 2 for test",
    ]


def test_api_test_with_query(staff_client, fake_search, db):
    factories.tool(
        save=True,
        name="web",
        type="web_search",
        config={"provider": "tavily", "endpoint": fake_search.tavily_url, "api_key": fake_search.api_key},
    )
    response = staff_client.post("/api/tools/web/test", {"arguments": {"query": "redis"}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert len(body["result"]["results"]) == 5
    assert fake_search.api_key not in response.content.decode()


def test_api_test_with_failing_provider_is_ok_false(staff_client, fake_search, db):
    factories.tool(
        save=True,
        name="web",
        type="web_search",
        config={"provider": "searxng", "endpoint": fake_search.searxng_url},
    )
    fake_search.script(text_reply("oops", status=500))
    response = staff_client.post("/api/tools/web/test", {"arguments": {"query": "redis"}}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "ok": False,
        "latency_ms": response.json()["latency_ms"],
        "error": "The search provider answered HTTP 500.",
    }
