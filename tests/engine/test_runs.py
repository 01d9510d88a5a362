"""Runs end to end through the engine: the fake OpenAI server drives the turns over real HTTP, and the
functions it calls are real HTTP servers on loopback (an agent, an HTTP datasource, an HTTP tool)."""

import time
from datetime import datetime

import pytest

from registry.models import DataSource, ExternalAgent, Tool
from tests.conftest import FAKE_LLM_API_KEY as LLM_API_KEY
from tests.engine.support import assert_well_numbered, listening, refreshed, run_until_done, start
from tests.fakes.openai_server import call, error, text, tool_call, tool_calls
from tests.fakes.scripted_reply import hang_reply, json_reply
from tests.fakes.server import read_request, send_json, serve
from threads.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def weather_api(scope, receive, send):
    """A tiny HTTP API for an `http` tool: `GET /today` → the forecast."""
    request = await read_request(scope, receive)
    if request.path == "/today":
        await send_json(
            send, 200, {"forecast": "sunny", "celsius": 21, "city": request.query.get("city", [""])[0]}
        )
    else:
        await send_json(send, 404, {"detail": "no such forecast"})


@pytest.fixture
def weather_tool(db):
    with serve(weather_api) as base_url:
        yield Tool.objects.create(
            name="weather",
            type="http",
            description="Today's weather.",
            config={"base_url": base_url, "method": "GET", "timeout": 5},
        )


@pytest.fixture
def helper_agent(fake_agent, db):
    return ExternalAgent.objects.create(
        name="helper", url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=5
    )


@pytest.fixture
def crm_datasource(fake_datasource, db):
    return DataSource.objects.create(
        name="crm",
        type="http",
        url=fake_datasource.base_url,
        auth_token=fake_datasource.token,
        timeout_seconds=5,
    )


async def test_a_run_calls_an_agent_a_datasource_and_a_tool_and_answers_with_their_results(
    llm, thread, fake_openai, fake_agent, helper_agent, crm_datasource, weather_tool
):
    fake_openai.script(
        tool_calls(
            call("agent__helper", {"task": "draft a greeting"}, id="call_agent"),
            call("datasource__crm", {"query": "customers"}, id="call_crm"),
            call("tool__weather", {"path": "today", "query": {"city": "Oslo"}}, id="call_weather"),
        ),
        text("Ada and Grace are on pro; it is sunny (21 C) in Oslo; the helper said: done.", chunks=6),
    )

    async with listening(thread) as listener:
        run = await start(thread, "Who is on pro, what's the weather, and greet them")
        events = await run_until_done(run)
        await listener.wait_terminal()

    assert_well_numbered(events)
    assert listener.of_run(run.id) == events
    types = [event["type"] for event in events]
    assert types[:2] == ["run.created", "run.in_progress"]
    assert types[-1] == "run.completed"
    started = {e["tool_call_id"]: e for e in events if e["type"] == "tool_call.started"}
    completed = {e["tool_call_id"]: e for e in events if e["type"] == "tool_call.completed"}
    assert {e["kind"] for e in started.values()} == {"agent", "datasource", "tool"}
    assert started["call_crm"]["arguments"] == {"query": "customers"}
    assert all(e["ok"] for e in completed.values()), completed
    assert all(e["latency_ms"] >= 0 for e in completed.values())
    assert completed["call_agent"]["output"]["result"] == "done: draft a greeting"
    assert "Ada" in str(completed["call_crm"]["output"])
    assert completed["call_weather"]["output"]["body"] == {"forecast": "sunny", "celsius": 21, "city": "Oslo"}

    # The agent got the task and the run's context, with its token.
    agent_payload = fake_agent.requests[-1].json()
    assert agent_payload["task"] == "draft a greeting"
    assert agent_payload["context"] == {
        "thread_id": str(thread.id),
        "run_id": str(run.id),
        "user_id": "customer-42",
    }

    # The second LLM turn saw the three results, answering the three calls.
    second = fake_openai.chat_requests[1].body
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert {m["tool_call_id"] for m in tool_messages} == {"call_agent", "call_crm", "call_weather"}
    assert any("sunny" in m["content"] for m in tool_messages)
    assert second["stream"] is True
    assert second["stream_options"] == {"include_usage": True}
    assert {tool["function"]["name"] for tool in second["tools"]} == {
        "agent__helper",
        "datasource__crm",
        "tool__weather",
    }

    final = [e for e in events if e["type"] == "message.completed"][-1]
    deltas = "".join(e["delta"] for e in events if e["type"] == "message.delta")
    assert (
        final["content"]
        == deltas
        == "Ada and Grace are on pro; it is sunny (21 C) in Oslo; the helper said: done."
    )

    run = await refreshed(run)
    assert run.status == "completed"
    assert run.ttft_ms is not None
    assert run.started_at is not None
    assert run.finished_at is not None
    usage = events[-1]["usage"]
    assert usage == run.usage
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    stored = [m async for m in Message.objects.filter(thread=thread).order_by("created_at")]
    assert [m.role for m in stored[:2]] == ["user", "assistant"]
    assert [m.role for m in stored[-1:]] == ["assistant"]
    assert sorted(m.tool_call_id for m in stored if m.role == "tool") == [
        "call_agent",
        "call_crm",
        "call_weather",
    ]
    assert len(stored[1].tool_calls) == 3
    assert stored[-1].content == final["content"]
    assert str(stored[-1].id) == final["message_id"]


async def test_the_tool_calls_of_one_turn_run_concurrently(
    llm, thread, fake_openai, fake_agent, helper_agent
):
    await ExternalAgent.objects.acreate(
        name="second", url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=5
    )
    fake_agent.script(json_reply({"answer": "one"}, delay=1.0), json_reply({"answer": "two"}, delay=1.0))
    fake_openai.script(
        tool_calls(call("agent__helper", {"task": "a"}), call("agent__second", {"task": "b"})),
        text("both answered"),
    )

    run = await start(thread, "ask both")
    events = await run_until_done(run)

    completed = [e for e in events if e["type"] == "tool_call.completed"]
    assert len(completed) == 2
    assert all(e["ok"] for e in completed)
    assert all(e["latency_ms"] >= 900 for e in completed)
    first_started = min(e["created_at"] for e in events if e["type"] == "tool_call.started")
    last_completed = max(e["created_at"] for e in completed)
    tools_seconds = (
        datetime.fromisoformat(last_completed) - datetime.fromisoformat(first_started)
    ).total_seconds()
    # One after the other would take 2 s; together they take about the slower one.
    assert tools_seconds < 1.8
    assert events[-1]["type"] == "run.completed"


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (error(500), "llm_server_error"),
        (error(401), "llm_auth_failed"),
        (error(429), "llm_rate_limited"),
        (error(400), "llm_request_refused"),
    ],
)
async def test_an_llm_error_fails_the_run_with_a_safe_message(llm, thread, fake_openai, failure, code):
    fake_openai.script(failure)

    async with listening(thread) as listener:
        run = await start(thread, "hello")
        events = await run_until_done(run)
        terminal = await listener.wait_terminal()

    assert_well_numbered(events)
    assert terminal["type"] == "run.failed"
    assert terminal["error"]["code"] == code
    assert str(failure.status) in terminal["error"]["message"]
    assert LLM_API_KEY not in str(events)
    assert LLM_API_KEY[-8:] not in str(events)
    run = await refreshed(run)
    assert run.status == "failed"
    assert run.error == terminal["error"]


async def test_an_llm_that_cannot_be_reached_fails_the_run(llm, thread):
    from tests.fakes.server import free_port

    llm.base_url = f"http://127.0.0.1:{free_port()}/v1"
    await llm.asave()

    run = await start(thread, "hello")
    events = await run_until_done(run)

    assert_well_numbered(events)
    assert events[-1]["type"] == "run.failed"
    assert events[-1]["error"]["code"] == "llm_unreachable"
    assert "connection refused" in events[-1]["error"]["message"]


async def test_an_llm_stream_that_breaks_midway_fails_the_run(llm, thread, fake_openai):
    fake_openai.script(text("partial answer that breaks", chunks=4, fail_after=2))

    run = await start(thread, "hello")
    events = await run_until_done(run)

    assert_well_numbered(events)
    assert events[-1]["type"] == "run.failed"
    assert events[-1]["error"]["code"].startswith("llm_")


async def test_an_agent_that_times_out_is_a_failed_call_and_the_run_still_completes(
    llm, thread, fake_openai, fake_agent, helper_agent
):
    helper_agent.timeout_seconds = 1
    await helper_agent.asave()
    fake_agent.script(hang_reply())
    fake_openai.script(
        tool_call("agent__helper", {"task": "slow"}), text("The helper did not answer in time.")
    )

    started = time.monotonic()
    run = await start(thread, "ask the helper")
    events = await run_until_done(run)

    completed = [e for e in events if e["type"] == "tool_call.completed"]
    assert len(completed) == 1
    assert completed[0]["ok"] is False
    assert "1s" in completed[0]["error"] or "time" in completed[0]["error"]
    assert events[-1]["type"] == "run.completed"
    assert time.monotonic() - started < 10
    # The LLM was told about the failure, as the tool's answer.
    tool_message = next(m for m in fake_openai.chat_requests[1].body["messages"] if m["role"] == "tool")
    assert "error" in tool_message["content"]


async def test_the_step_limit_ends_the_run_with_a_clear_message(
    llm, thread, fake_openai, helper_agent, settings
):
    settings.MAX_RUN_STEPS = 2
    fake_openai.script(
        tool_call("agent__helper", {"task": "again"}), tool_call("agent__helper", {"task": "and again"})
    )

    run = await start(thread, "loop forever")
    events = await run_until_done(run)

    assert_well_numbered(events)
    assert len(fake_openai.chat_requests) == 2
    assert events[-1]["type"] == "run.completed"
    assert events[-1]["step_limit_reached"] is True
    final = [e for e in events if e["type"] == "message.completed"][-1]
    assert "limit of 2 steps" in final["content"]
    assert (await refreshed(run)).status == "completed"


async def test_without_tools_no_function_is_offered(llm, thread, fake_openai, helper_agent):
    fake_openai.script(text("plain answer"))

    run = await start(thread, "just talk", use_tools=False)
    events = await run_until_done(run)

    assert events[-1]["type"] == "run.completed"
    assert "tools" not in fake_openai.chat_requests[0].body


async def test_a_named_llm_config_and_parameters_steer_the_call(llm, thread, fake_openai):
    from registry.models import LLMConfig

    await LLMConfig.objects.acreate(
        name="other", model="gpt-4o-mini", base_url=fake_openai.base_url, api_key="sk-x", max_retries=0
    )
    fake_openai.script(text("ok"))

    run = await start(
        thread,
        "hello",
        llm_config="other",
        context_data=[{"account": "ACME"}],
        parameters={"system_prompt": "You are terse.", "temperature": 0.1, "locale": "nb-NO"},
    )
    await run_until_done(run)

    body = fake_openai.chat_requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.1
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    context = body["messages"][1]["content"]
    assert "ACME" in context
    assert "nb-NO" in context
    assert body["messages"][-1] == {"role": "user", "content": "hello"}
    assert (await refreshed(run)).llm_model == "gpt-4o-mini"


async def test_messages_of_earlier_runs_are_sent_unless_memory_is_off(llm, thread, fake_openai):
    fake_openai.script(text("first answer"), text("second answer"), text("third answer"))

    await run_until_done(await start(thread, "first question"))
    await run_until_done(await start(thread, "second question"))
    await run_until_done(await start(thread, "third question", use_memory=False))

    with_memory = [m["content"] for m in fake_openai.chat_requests[1].body["messages"][1:]]
    assert with_memory == ["first question", "first answer", "second question"]
    without_memory = [m["content"] for m in fake_openai.chat_requests[2].body["messages"][1:]]
    assert without_memory == ["third question"]


async def test_a_run_records_its_messages_for_the_next_turn_with_tool_calls_well_formed(
    llm, thread, fake_openai, helper_agent
):
    fake_openai.script(tool_call("agent__helper", {"task": "x"}, id="call_1"), text("done"), text("again"))

    await run_until_done(await start(thread, "use the helper"))
    await run_until_done(await start(thread, "and now?"))

    messages = fake_openai.chat_requests[2].body["messages"]
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert messages[2]["tool_calls"][0]["id"] == "call_1"
    assert messages[3]["tool_call_id"] == "call_1"


async def test_a_cancelled_run_with_unanswered_calls_leaves_a_valid_history(llm, thread, fake_openai):
    from threads.models import Message as MessageModel
    from threads.models import Run

    fake_openai.script(text("ok"), text("fine"))
    run = await start(thread, "first")
    await run_until_done(run)
    # As a run cancelled between the LLM's tool calls and their answers leaves it.
    await MessageModel.objects.acreate(
        thread=thread,
        run=await Run.objects.aget(pk=run.pk),
        role="assistant",
        content="",
        tool_calls=[
            {"id": "call_lost", "type": "function", "function": {"name": "agent__x", "arguments": "{}"}}
        ],
    )

    events = await run_until_done(await start(thread, "next"))

    assert events[-1]["type"] == "run.completed"
    messages = fake_openai.chat_requests[-1].body["messages"]
    assert all("tool_calls" not in m for m in messages)
    assert [m["content"] for m in messages[1:]] == ["first", "ok", "next"]
