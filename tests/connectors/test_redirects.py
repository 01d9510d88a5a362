"""No credential crosses origins: every outbound client refuses a redirect to another origin before it
sends anything there (issue 11, point 3). `cross_origin_redirect` answers every request with a redirect to
a second server on another port; whatever reaches that second server would be a leak."""

import asyncio

import pytest

from orchestrator_studio.http import (
    RedirectRefused,
    guarded_async_client,
    guarded_async_client_httpx2,
    guarded_sync_client,
    http_request,
    same_origin,
)
from registry.connectors.agents import agent_call, agent_probe
from registry.connectors.composio import composio_toolkits
from registry.connectors.datasources import datasource_probe, datasource_query
from registry.connectors.llm import llm_answer, llm_probe
from registry.connectors.tools import ToolError, tool_call, tool_probe
from registry.models import DataSource
from tests.connectors import factories
from tests.fakes.scripted_reply import json_reply, redirect_reply

SECRET = "s3cret-token-never-to-leave-0123456789"
REFUSED = "another origin"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_origin_is_refused_before_anything_is_sent_there(
    cross_origin_redirect, status
):
    cross_origin_redirect.status = status
    with pytest.raises(RedirectRefused, match=REFUSED):
        await http_request(
            "POST",
            f"{cross_origin_redirect.url}/call",
            timeout_seconds=5,
            headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET},
            params={"key": SECRET},
            json_body={"api_key": SECRET},
        )
    assert [r.path for r in cross_origin_redirect.requests] == ["/call"]
    assert cross_origin_redirect.target.requests == []


async def test_the_refusal_names_the_origins_and_nothing_more(cross_origin_redirect):
    with pytest.raises(RedirectRefused) as refused:
        await http_request("GET", f"{cross_origin_redirect.url}/call?key={SECRET}", timeout_seconds=5)
    assert refused.value.code == "redirect_refused"
    assert cross_origin_redirect.url in refused.value.message
    assert cross_origin_redirect.target.url in refused.value.message
    assert SECRET not in refused.value.message
    assert "/stolen" not in refused.value.message


async def test_a_redirect_within_the_origin_is_followed_with_the_credentials(fake_agent):
    fake_agent.script(redirect_reply(f"{fake_agent.base_url}/moved-here"), json_reply({"answer": 42}))
    response = await http_request(
        "GET",
        f"{fake_agent.base_url}/old",
        timeout_seconds=5,
        headers={"Authorization": f"Bearer {fake_agent.token}"},
    )
    assert response.json() == {"answer": 42}
    assert [r.path for r in fake_agent.requests] == ["/old", "/moved-here"]
    assert fake_agent.requests[1].headers["authorization"] == f"Bearer {fake_agent.token}"


def test_same_origin_is_scheme_host_and_port_or_an_upgrade_to_https():
    assert same_origin("http://api.example.com/a", "http://api.example.com:80/b")
    assert same_origin("http://api.example.com/a", "https://api.example.com/a")
    assert same_origin("https://API.example.com/a", "https://api.example.com:443/b")
    assert not same_origin("https://api.example.com/a", "http://api.example.com/a")
    assert not same_origin("http://api.example.com/a", "http://api.example.com:8080/a")
    assert not same_origin("http://api.example.com:8080/a", "https://api.example.com/a")
    assert not same_origin("http://api.example.com/a", "http://evil.example.com/a")
    assert not same_origin("http://127.0.0.1:8210/a", "http://localhost:8210/a")


async def test_the_clients_given_to_sdks_refuse_it_too(cross_origin_redirect):
    async with guarded_async_client(timeout=5) as client:
        with pytest.raises(RedirectRefused, match=REFUSED):
            await client.get(f"{cross_origin_redirect.url}/a", headers={"Authorization": f"Bearer {SECRET}"})
    async with guarded_async_client_httpx2(timeout=5) as client2:
        with pytest.raises(RedirectRefused, match=REFUSED):
            await client2.get(f"{cross_origin_redirect.url}/b", headers={"Authorization": f"Bearer {SECRET}"})
    with guarded_sync_client(timeout=5) as sync_client, pytest.raises(RedirectRefused, match=REFUSED):
        await asyncio.to_thread(sync_client.get, f"{cross_origin_redirect.url}/c")
    assert [r.path for r in cross_origin_redirect.requests] == ["/a", "/b", "/c"]
    assert cross_origin_redirect.target.requests == []


async def test_the_clients_given_to_sdks_follow_redirects_within_the_origin(fake_agent):
    fake_agent.script(redirect_reply(f"{fake_agent.base_url}/here"), json_reply({"answer": 42}))
    token = {"Authorization": f"Bearer {fake_agent.token}"}
    async with guarded_async_client(timeout=5, headers=token) as client:
        response = await client.get(f"{fake_agent.base_url}/there")
    assert response.json() == {"answer": 42}
    assert [r.path for r in fake_agent.requests] == ["/there", "/here"]
    assert fake_agent.requests[1].headers["authorization"] == token["Authorization"]


async def test_an_sdk_can_have_the_refusal_raised_as_its_own_error():
    class SDKError(Exception):
        pass

    async with guarded_async_client_httpx2(timeout=5, raise_as=lambda exc: SDKError(exc.message)) as client:
        with pytest.raises(SDKError, match="cloud metadata"):
            await client.get("http://169.254.169.254/latest/meta-data/")


# --- every connector kind -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307])
async def test_agent_call_and_probe_send_no_token_across_origins(cross_origin_redirect, status):
    cross_origin_redirect.status = status
    agent = factories.agent(url=f"{cross_origin_redirect.url}/redir", auth_token=SECRET)
    called = await agent_call(agent, {"task": "x"})
    probed = await agent_probe(agent)
    assert not called.ok
    assert not probed.ok
    assert REFUSED in called.error
    assert REFUSED in probed.error
    assert len(cross_origin_redirect.requests) == 2
    assert cross_origin_redirect.target.requests == []


def test_agent_call_endpoint_reports_the_refused_redirect(cross_origin_redirect, staff_client):
    factories.agent(save=True, name="mover", url=f"{cross_origin_redirect.url}/redir", auth_token=SECRET)
    response = staff_client.post("/api/agents/mover/call", {"task": "hello"}, format="json")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert REFUSED in response.json()["error"]
    assert SECRET not in response.content.decode()
    assert cross_origin_redirect.target.requests == []


async def test_http_tool_sends_neither_its_token_nor_its_headers_across_origins(cross_origin_redirect):
    tool = factories.tool(
        config={
            "base_url": f"{cross_origin_redirect.url}/api",
            "method": "POST",
            "auth_token": SECRET,
            "headers": {"X-Api-Key": SECRET},
            "timeout": 5,
        }
    )
    with pytest.raises(ToolError, match="redirected outside"):
        await tool_call(tool, {"path": "orders", "body": {"a": 1}})
    probed = await tool_probe(tool)
    assert not probed.ok
    assert cross_origin_redirect.target.requests == []


@pytest.mark.parametrize(
    ("provider", "extra"),
    [("searxng", {}), ("tavily", {}), ("brave", {}), ("google", {"cx": "engine-1"})],
)
async def test_web_search_sends_no_key_across_origins(cross_origin_redirect, provider, extra):
    tool = factories.tool(
        type="web_search",
        config={
            "provider": provider,
            "endpoint": f"{cross_origin_redirect.url}/search",
            "api_key": SECRET,
            "timeout": 5,
            **extra,
        },
    )
    with pytest.raises(RedirectRefused, match=REFUSED):
        await tool_call(tool, {"query": "weather"})
    assert len(cross_origin_redirect.requests) == 1
    assert cross_origin_redirect.target.requests == []


@pytest.mark.parametrize(
    ("kind", "query"), [("http", "customers"), ("cubejs", '{"measures": ["Orders.count"]}')]
)
async def test_http_and_cubejs_datasources_send_no_token_across_origins(cross_origin_redirect, kind, query):
    datasource = DataSource(
        name=kind, type=kind, url=f"{cross_origin_redirect.url}/data", auth_token=SECRET, timeout_seconds=5
    )
    with pytest.raises(RedirectRefused, match=REFUSED):
        await datasource_query(datasource, query)
    probed = await datasource_probe(datasource)
    assert not probed.ok
    assert REFUSED in probed.error
    assert cross_origin_redirect.target.requests == []


async def test_llm_sends_no_api_key_across_origins(cross_origin_redirect):
    config = factories.llm_config(base_url=f"{cross_origin_redirect.url}/v1", api_key=SECRET)
    probed = await llm_probe(config)
    answered = await llm_answer(config, "hello")
    assert not probed.ok
    assert REFUSED in probed.error
    assert answered["ok"] is False
    assert REFUSED in answered["error"]
    assert cross_origin_redirect.target.requests == []


async def test_composio_sends_no_api_key_across_origins(cross_origin_redirect, settings):
    settings.COMPOSIO_API_KEY = SECRET
    settings.COMPOSIO_BASE_URL = cross_origin_redirect.url
    with pytest.raises(RedirectRefused, match=REFUSED):
        await composio_toolkits()
    assert cross_origin_redirect.target.requests == []


def test_datasource_query_endpoint_answers_403_redirect_refused(cross_origin_redirect, staff_client):
    factories.datasource(name="moved", url=f"{cross_origin_redirect.url}/data", auth_token=SECRET)
    response = staff_client.post("/api/datasources/moved/query", {"query": "customers"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "redirect_refused"
    assert SECRET not in response.content.decode()
    assert cross_origin_redirect.target.requests == []


async def test_mcp_tool_server_sends_no_token_across_origins(cross_origin_redirect):
    tool = factories.tool(
        name="remote",
        type="mcp",
        config={"url": f"{cross_origin_redirect.url}/mcp", "auth_token": SECRET, "timeout": 5},
    )
    probed = await tool_probe(tool)
    assert not probed.ok
    assert REFUSED in probed.error
    assert cross_origin_redirect.requests
    assert cross_origin_redirect.target.requests == []


async def test_a2a_agent_sends_no_token_across_origins(cross_origin_redirect):
    agent = factories.agent(protocol="a2a", url=cross_origin_redirect.url, auth_token=SECRET)
    probed = await agent_probe(agent)
    called = await agent_call(agent, {"task": "x"})
    assert not probed.ok
    assert not called.ok
    assert REFUSED in probed.error
    assert cross_origin_redirect.requests
    assert cross_origin_redirect.target.requests == []
