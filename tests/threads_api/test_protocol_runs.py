"""A user's run that calls an MCP tool server and an A2A agent in one turn (both real servers on loopback,
spoken to with the official SDKs) and answers with both results."""

import json

import pytest
from asgiref.sync import sync_to_async

from registry.models import ExternalAgent, Tool
from registry.services import registry_entry_save
from tests.fakes.openai_server import call, text, tool_calls
from tests.threads_api.conftest import read_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def protocol_registry(fake_mcp, fake_a2a):
    save = sync_to_async(registry_entry_save)
    await save(
        instance=Tool(),
        data={
            "name": "files",
            "type": "mcp",
            "config": {"url": fake_mcp.url, "auth_token": fake_mcp.token, "allowed_tools": ["add", "echo"]},
        },
    )
    await save(
        instance=ExternalAgent(),
        data={"name": "research", "protocol": "a2a", "url": fake_a2a.base_url, "auth_token": fake_a2a.token},
    )


def script_both(fake_openai) -> None:
    fake_openai.script(
        tool_calls(
            call("files__add", {"a": 40, "b": 2}, id="call_mcp"),
            call("agent__research", {"task": "steps 2 find the Q3 numbers"}, id="call_a2a"),
        ),
        text("The sum is 42 and the research says: done: steps 2 find the Q3 numbers.", chunks=4),
    )


async def test_a_run_calls_an_mcp_tool_and_an_a2a_agent_in_one_turn(
    alice, llm, fake_openai, fake_mcp, fake_a2a, protocol_registry
):
    script_both(fake_openai)
    response = await alice.post(
        "/v1/chat", {"prompt": "Add 40 and 2, and find the Q3 numbers"}, content_type="application/json"
    )
    body = response.json()
    assert body["status"] == "completed", body
    assert body["answer"] == "The sum is 42 and the research says: done: steps 2 find the Q3 numbers."
    calls = {entry["name"]: entry for entry in body["tool_calls"]}
    assert calls["files__add"]["ok"] is True
    assert json.loads(calls["files__add"]["output"]) == {"sum": 42}
    assert calls["agent__research"]["ok"] is True
    assert calls["agent__research"]["output"]["state"] == "completed"
    assert calls["agent__research"]["output"]["text"] == "done: steps 2 find the Q3 numbers"

    # The LLM was offered both (the MCP server's allowed tools, the A2A agent) and then saw both results.
    first, second = (request.body for request in fake_openai.chat_requests)
    offered = {tool["function"]["name"] for tool in first["tools"]}
    assert {"files__add", "files__echo", "agent__research"} <= offered
    assert "files__fail" not in offered
    results = {m["tool_call_id"]: m["content"] for m in second["messages"] if m["role"] == "tool"}
    assert json.loads(results["call_mcp"]) == {"sum": 42}
    assert "done: steps 2 find the Q3 numbers" in results["call_a2a"]

    # The remote agent saw one conversation for this thread, with the orchestrator's token.
    assert len(set(fake_a2a.context_ids)) == 1
    assert fake_a2a.last_token == fake_a2a.token


async def test_the_streamed_run_shows_both_calls(alice, llm, fake_openai, protocol_registry):
    script_both(fake_openai)
    response = await alice.post(
        "/v1/chat", {"prompt": "Both, streamed", "stream": True}, content_type="application/json"
    )
    frames, _ = await read_sse(response)
    events = [frame["data"] for frame in frames]
    started = {e["name"]: e for e in events if e["type"] == "tool_call.started"}
    completed = {e["name"]: e for e in events if e["type"] == "tool_call.completed"}
    assert started["files__add"]["kind"] == "tool"
    assert started["agent__research"]["kind"] == "agent"
    assert completed["files__add"]["ok"] is True
    assert completed["agent__research"]["ok"] is True
    assert events[-1]["type"] == "run.completed"

    # The streaming agent's status updates arrived as the call worked, between its start and its end.
    progress = [e for e in events if e["type"] == "tool_call.progress"]
    assert [e["text"] for e in progress] == ["step 1 of 2", "step 2 of 2"]
    assert {e["tool_call_id"] for e in progress} == {started["agent__research"]["tool_call_id"]}
    assert started["agent__research"]["seq"] < progress[0]["seq"]
    assert progress[-1]["seq"] < completed["agent__research"]["seq"]


async def test_a_slow_mcp_server_and_a_failing_agent_fail_their_calls_and_the_run_completes(
    alice, llm, fake_openai, fake_mcp, fake_a2a
):
    save = sync_to_async(registry_entry_save)
    await save(
        instance=Tool(),
        data={
            "name": "files",
            "type": "mcp",
            "config": {"url": fake_mcp.url, "auth_token": fake_mcp.token, "timeout": 1},
        },
    )
    await save(
        instance=ExternalAgent(),
        data={"name": "research", "protocol": "a2a", "url": fake_a2a.base_url, "auth_token": fake_a2a.token},
    )
    fake_openai.script(
        tool_calls(
            call("files__slow", {"seconds": 30}, id="call_slow"),
            call("agent__research", {"task": "fail at once"}, id="call_fail"),
        ),
        text("Neither worked."),
    )
    body = (await alice.post("/v1/chat", {"prompt": "Try both"}, content_type="application/json")).json()
    assert body["status"] == "completed"
    assert body["answer"] == "Neither worked."
    calls = {entry["name"]: entry for entry in body["tool_calls"]}
    assert calls["files__slow"]["ok"] is False
    assert calls["agent__research"]["ok"] is False
    second = fake_openai.chat_requests[1].body
    results = {m["tool_call_id"]: m["content"] for m in second["messages"] if m["role"] == "tool"}
    assert "did not answer within 1s" in results["call_slow"]
    assert "the research failed" in results["call_fail"]
