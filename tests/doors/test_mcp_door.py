"""The MCP door, used by the official `mcp` client over streamable HTTP with an API token."""

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.openai_server import text, tool_call
from threads.models import Run, Thread

pytestmark = pytest.mark.django_db(transaction=True)


def mcp_client(server: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(f"{server}/mcp", http_client=http))


async def test_a_user_is_offered_ask_only(server, user_client, llm, crm):
    async with mcp_client(server, user_client.raw_token) as client:
        tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == ["ask"]
    assert tools[0].input_schema["required"] == ["task"]


async def test_staff_are_offered_the_registry_functions(server, staff_client, llm, crm):
    async with mcp_client(server, staff_client.raw_token) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"ask", "datasource__crm"}
    assert tools["datasource__crm"].input_schema["required"] == ["query"]
    assert tools["datasource__crm"].description.startswith("The CRM's customers.")


async def test_ask_runs_the_assistant_and_answers_with_the_run(
    server, user_client, user, llm, fake_openai, crm
):
    fake_openai.script(
        tool_call("datasource__crm", {"query": "customers"}), text("Ada and Grace pay for pro.")
    )

    async with mcp_client(server, user_client.raw_token) as client:
        result = await client.call_tool("ask", {"task": "Who pays for pro?"})

    assert result.is_error is False
    assert result.content[0].text == "Ada and Grace pay for pro."
    structured = result.structured_content
    [call] = structured["tool_calls"]
    assert (call["name"], call["ok"]) == ("datasource__crm", True)
    run = await Run.objects.select_related("thread__owner").aget(pk=structured["run_id"])
    assert (run.status, str(run.thread_id)) == ("completed", structured["thread_id"])
    assert run.thread.owner == user

    # The same thread goes on with `thread_id`: the assistant sees the earlier turn.
    fake_openai.script(text("Still Ada and Grace."))
    async with mcp_client(server, user_client.raw_token) as client:
        again = await client.call_tool("ask", {"task": "And now?", "thread_id": structured["thread_id"]})
    assert again.structured_content["thread_id"] == structured["thread_id"]
    contents = [m["content"] for m in fake_openai.chat_requests[-1].body["messages"]]
    assert (contents[1], contents[-2], contents[-1]) == (
        "Who pays for pro?",
        "Ada and Grace pay for pro.",
        "And now?",
    )
    assert await Thread.objects.acount() == 1


async def test_ask_on_another_users_thread_is_an_error(server, user_client, other_client, llm, fake_openai):
    fake_openai.script(text("Mine."))
    async with mcp_client(server, user_client.raw_token) as client:
        mine = await client.call_tool("ask", {"task": "Hello"})
    async with mcp_client(server, other_client.raw_token) as client:
        result = await client.call_tool(
            "ask", {"task": "Peek", "thread_id": mine.structured_content["thread_id"]}
        )
    assert result.is_error is True
    assert result.content[0].text == "Thread not found."
    assert await Run.objects.acount() == 1


async def test_staff_call_a_datasource_function_directly(server, staff_client, llm, crm, fake_datasource):
    async with mcp_client(server, staff_client.raw_token) as client:
        result = await client.call_tool("datasource__crm", {"query": "customers"})
        refused = await client.call_tool("datasource__crm", {})

    assert result.is_error is False
    assert [row[1] for row in result.structured_content["rows"]] == ["Ada", "Linus", "Grace"]
    assert fake_datasource.requests[-1].headers["authorization"] == f"Bearer {fake_datasource.token}"
    assert fake_datasource.token not in result.content[0].text
    # Arguments are checked against the function's schema before anything is called.
    assert refused.is_error is True
    assert "query" in refused.content[0].text
    assert len(fake_datasource.requests) == 1


async def test_a_user_cannot_call_registry_functions(server, user_client, llm, crm, fake_datasource):
    from mcp.shared.exceptions import MCPError

    async with mcp_client(server, user_client.raw_token) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("datasource__crm", {"query": "customers"})
    assert "Unknown tool" in refused.value.message
    assert fake_datasource.requests == []


async def test_no_or_bad_token_is_401_before_any_mcp_message(server, llm):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    async with httpx.AsyncClient(timeout=10) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await http.post(
                f"{server}/mcp",
                json=initialize,
                headers={**headers, "Accept": "application/json, text/event-stream"},
            )
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "not_authenticated"
        # A body that is not even JSON-RPC is refused the same way: it is never read.
        response = await http.post(f"{server}/mcp", content=b"garbage")
        assert response.status_code == 401


async def test_users_see_ask_runs_as_ordinary_threads(server, user_client, llm, fake_openai):
    fake_openai.script(text("Recorded."))
    async with mcp_client(server, user_client.raw_token) as client:
        result = await client.call_tool("ask", {"task": "Record me"})
    thread_id = result.structured_content["thread_id"]
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        detail = await http.get(
            f"/api/threads/{thread_id}/", headers={"Authorization": f"Bearer {user_client.raw_token}"}
        )
    assert [(m["role"], m["content"]) for m in detail.json()["messages"]] == [
        ("user", "Record me"),
        ("assistant", "Recorded."),
    ]
    assert (await Thread.objects.aget(pk=thread_id)).metadata == {"door": "mcp"}


async def test_ask_with_an_unknown_llm_config_changes_nothing(server, user_client, llm, fake_openai):
    async with mcp_client(server, user_client.raw_token) as client:
        result = await client.call_tool("ask", {"task": "Hello", "llm_config": "nope"})
    assert result.is_error is True
    assert result.content[0].text == "No enabled LLM config named 'nope'."
    assert await Thread.objects.acount() == 0
    assert fake_openai.chat_requests == []


@pytest.mark.parametrize("path", ["/mcp", "/a2a"])
async def test_a_body_over_the_limit_is_413_before_the_sdk_reads_it(server, user_client, settings, llm, path):
    settings.MAX_REQUEST_BODY_BYTES = 1_000
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"padding": "x" * 2_000}}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{server}{path}",
            json=message,
            headers={
                "Authorization": f"Bearer {user_client.raw_token}",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_functions_that_need_approval_are_neither_listed_nor_called(
    server, staff_client, llm, crm, payroll, fake_datasource, fake_openai
):
    from mcp.shared.exceptions import MCPError

    fake_openai.script(text("Nothing sensitive."))
    async with mcp_client(server, staff_client.raw_token) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        with pytest.raises(MCPError) as refused:
            await client.call_tool("datasource__payroll", {"query": "salaries"})
        await client.call_tool("ask", {"task": "Show me the payroll"})

    assert listed == {"ask", "datasource__crm"}
    assert "needs a person's approval" in refused.value.message
    assert fake_datasource.requests == []
    # `ask` runs do not offer it to their LLM either.
    offered = [tool["function"]["name"] for tool in fake_openai.chat_requests[-1].body["tools"]]
    assert offered == ["datasource__crm"]
