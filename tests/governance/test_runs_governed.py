"""Governance seen through runs, end to end: cost in usage and `run.completed`, the response cache in the
LLM turn, quotas refused at every door (REST, websocket, /v1/chat), a token overrun mid-run, and the
trace of a tool-calling run. The LLM is the fake OpenAI server over real HTTP."""

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from governance.models import Quota
from registry.models import LLMConfig, Tool
from tests.fakes.openai_server import hang, text, tool_call
from tests.fakes.server import read_request, send_json, serve
from tests.threads_api.conftest import execute, initiate, open_socket, wait_run_ended
from threads.models import Message, Run, RunEvent, Thread

pytestmark = pytest.mark.django_db(transaction=True)

USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def weather_api(scope, receive, send):
    """The HTTP API behind the `weather` tool: any path answers today's forecast."""
    await read_request(scope, receive)
    await send_json(send, 200, {"forecast": "sunny"})


@pytest.fixture
def weather_tool(db):
    with serve(weather_api) as base_url:
        yield Tool.objects.create(
            name="weather", type="http", config={"base_url": base_url, "method": "GET", "timeout": 5}
        )


async def _run_to_end(client, task: str = "Hello", **options) -> tuple[Run, list[dict]]:
    thread_id = await initiate(client)
    response = await execute(client, thread_id, task, **options)
    assert response.status_code == 202, response.content
    run = await wait_run_ended(response.json()["run_id"])
    events = [e.payload async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    return run, events


# --- cost ---------------------------------------------------------------------------------------------


async def test_a_priced_run_carries_its_cost_in_usage_and_run_completed(alice, llm, fake_openai):
    fake_openai.script(text("Hi there.", usage=USAGE))

    run, events = await _run_to_end(alice)

    expected = 1000 * 2.5 / 1e6 + 200 * 10.0 / 1e6  # gpt-4o in the built-in table
    assert run.status == Run.Status.COMPLETED
    assert run.usage["cost_usd"] == pytest.approx(expected)
    assert events[-1]["type"] == "run.completed"
    assert events[-1]["usage"]["cost_usd"] == pytest.approx(expected)
    assert events[-1]["usage"]["cached"] is False


async def test_an_unpriced_model_has_no_cost_and_a_config_price_wins(alice, llm, fake_openai):
    await LLMConfig.objects.filter(pk=llm.pk).aupdate(model="llama3.1:8b")
    fake_openai.script(text("Hi.", usage=USAGE), text("Hi again.", usage=USAGE))

    unpriced, _ = await _run_to_end(alice)
    await LLMConfig.objects.filter(pk=llm.pk).aupdate(
        input_price_per_mtok=Decimal("1"), output_price_per_mtok=Decimal("2")
    )
    priced, _ = await _run_to_end(alice)

    assert unpriced.usage["cost_usd"] is None
    assert unpriced.usage["total_tokens"] == 1200
    assert priced.usage["cost_usd"] == pytest.approx(1000 * 1 / 1e6 + 200 * 2 / 1e6)


# --- response cache -----------------------------------------------------------------------------------


@pytest.fixture
def cached_llm(llm):
    LLMConfig.objects.filter(pk=llm.pk).update(cache_ttl_seconds=600)
    return llm


def _shape(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e.get("role", "")) for e in events if e["type"] != "message.delta"]


async def test_a_repeated_turn_is_answered_from_the_cache(alice, cached_llm, fake_openai):
    fake_openai.script(text("Oslo is sunny today.", chunks=4, usage=USAGE))

    first, first_events = await _run_to_end(alice, "Weather in Oslo?", use_memory=False)
    second, second_events = await _run_to_end(alice, "Weather in Oslo?", use_memory=False)

    assert len(fake_openai.chat_requests) == 1
    assert _shape(second_events) == _shape(first_events)
    deltas = [e["delta"] for e in second_events if e["type"] == "message.delta"]
    assert "".join(deltas) == "Oslo is sunny today."
    assert (
        next(e for e in second_events if e["type"] == "message.completed")["content"]
        == "Oslo is sunny today."
    )
    assert first.usage["cached"] is False
    assert second.usage["cached"] is True
    assert second.usage["cost_usd"] == 0
    assert second.usage["total_tokens"] == 1200


async def test_a_changed_temperature_or_tool_schema_misses_and_the_endpoint_empties(
    alice, staff_client, cached_llm, fake_openai, weather_tool
):
    fake_openai.script(*(text(answer, usage=USAGE) for answer in "ABCD"))

    await _run_to_end(alice, "Weather?", use_memory=False)
    await _run_to_end(alice, "Weather?", use_memory=False)  # hit
    await _run_to_end(alice, "Weather?", use_memory=False, parameters={"temperature": 0.1})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    changed = await sync_to_async(staff_client.patch)(
        "/api/tools/weather/", {"parameters": schema}, format="json"
    )
    assert changed.status_code == 200
    await _run_to_end(alice, "Weather?", use_memory=False)
    emptied = await sync_to_async(staff_client.delete)(f"/api/llm/configs/{cached_llm.name}/cache")
    after, _ = await _run_to_end(alice, "Weather?", use_memory=False)

    assert emptied.status_code == 204
    assert len(fake_openai.chat_requests) == 4
    assert after.usage["cached"] is False
    temperatures = [request.body.get("temperature") for request in fake_openai.chat_requests]
    assert temperatures[1] == 0.1


async def test_cache_hits_and_misses_are_counted(alice, staff_client, cached_llm, fake_openai):
    before = await sync_to_async(staff_client.get)("/api/monitoring/metrics")
    fake_openai.script(text("Once.", usage=USAGE))

    await _run_to_end(alice, "Count me", use_memory=False)
    await _run_to_end(alice, "Count me", use_memory=False)
    after = await sync_to_async(staff_client.get)("/api/monitoring/metrics")

    start, end = before.json()["since_start"]["llm_cache"], after.json()["since_start"]["llm_cache"]
    assert (end["hits"] - start["hits"], end["misses"] - start["misses"]) == (1, 1)


# --- quotas -------------------------------------------------------------------------------------------


async def _stored() -> tuple[int, int, int]:
    return await Run.objects.acount(), await Message.objects.acount(), await Thread.objects.acount()


async def test_each_door_refuses_a_run_over_the_quota_and_stores_nothing(alice, llm, fake_openai):
    await Quota.objects.acreate(user=alice.user, max_concurrent_runs=1)
    fake_openai.script(hang())
    busy_thread = await initiate(alice)
    assert (await execute(alice, busy_thread, "Long job")).status_code == 202
    other_thread = await initiate(alice)
    stored = await _stored()

    rest = await execute(alice, other_thread, "One more")
    chat = await alice.post(
        "/v1/chat", {"prompt": "And one more", "thread_id": other_thread}, content_type="application/json"
    )
    socket = await open_socket(other_thread, alice.raw_token)
    try:
        await socket.send({"type": "message", "content": "Over the socket"})
        frame = await socket.receive()
    finally:
        await socket.disconnect()

    for response in (rest, chat):
        assert response.status_code == 429
        error = response.json()["error"]
        assert (error["code"], error["limit"], error["limit_value"]) == (
            "quota_exceeded",
            "max_concurrent_runs",
            1,
        )
        assert int(response["Retry-After"]) >= 1
    assert frame["type"] == "error"
    assert (frame["error"]["code"], frame["error"]["limit"]) == ("quota_exceeded", "max_concurrent_runs")
    assert await _stored() == stored


async def test_runs_per_minute_and_tokens_per_day_refuse_with_when_they_reset(alice, llm, fake_openai):
    quota = await Quota.objects.acreate(user=alice.user, runs_per_minute=1)
    fake_openai.script(text("One.", usage=USAGE))
    await _run_to_end(alice)

    per_minute = await execute(alice, await initiate(alice), "Two")
    quota.runs_per_minute, quota.tokens_per_day = None, 1000
    await quota.asave()
    per_day = await execute(alice, await initiate(alice), "Three")

    assert per_minute.status_code == 429
    assert per_minute.json()["error"]["limit"] == "runs_per_minute"
    assert 1 <= int(per_minute["Retry-After"]) <= 60
    assert per_day.status_code == 429
    assert per_day.json()["error"]["limit"] == "tokens_per_day"
    assert per_day.json()["error"]["resets_at"].endswith("T00:00:00Z")


async def test_twenty_concurrent_starts_run_at_most_three(alice, llm, fake_openai):
    await Quota.objects.acreate(user=alice.user, max_concurrent_runs=3)
    fake_openai.script(hang(times=20))
    threads = [await initiate(alice) for _ in range(20)]

    responses = await asyncio.gather(*(execute(alice, thread_id, "Go") for thread_id in threads))

    codes = sorted(response.status_code for response in responses)
    assert codes == [202] * 3 + [429] * 17
    assert await Run.objects.acount() == 3


async def test_a_run_over_its_token_budget_finishes_the_turn_then_fails(
    alice, llm, fake_openai, weather_tool
):
    await Quota.objects.acreate(user=alice.user, tokens_per_day=500)
    fake_openai.script(tool_call("tool__weather", {"path": "today"}, usage=USAGE), text("Sunny."))

    run, events = await _run_to_end(alice, "Weather?")

    types = [e["type"] for e in events]
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "quota_exceeded"
    assert types[-1] == "run.failed"
    assert "tool_call.completed" in types  # the turn that went over finished with its call
    assert len(fake_openai.chat_requests) == 1
    assert events[-1]["usage"]["total_tokens"] == 1200


# --- traces -------------------------------------------------------------------------------------------


async def test_a_tool_calling_run_is_traced_without_content(alice, llm, fake_openai, spans, weather_tool):
    fake_openai.script(
        tool_call("tool__weather", {"path": "today"}, id="call_w1", usage=USAGE),
        text("It is sunny.", usage=USAGE),
    )
    thread_id = await initiate(alice)
    response = await alice.post(
        f"/api/agent/{thread_id}/execute",
        {"task": "Secret plans for the weather?"},
        content_type="application/json",
        headers={"traceparent": TRACEPARENT},
    )
    run = await wait_run_ended(response.json()["run_id"])

    finished = {span.name: span for span in spans.get_finished_spans()}
    agent, tool = finished["invoke_agent"], finished["execute_tool tool__weather"]
    chats = [span for span in spans.get_finished_spans() if span.name == "chat gpt-4o"]
    assert run.status == Run.Status.COMPLETED
    assert agent.attributes["gen_ai.conversation.id"] == thread_id
    assert format(agent.context.trace_id, "032x") == TRACEPARENT.split("-")[1]
    assert len(chats) == 2
    for chat in chats:
        assert chat.parent.span_id == agent.context.span_id
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "127.0.0.1"
        assert chat.attributes["gen_ai.request.model"] == "gpt-4o"
        assert chat.attributes["gen_ai.usage.input_tokens"] == 1000
        assert chat.attributes["gen_ai.usage.output_tokens"] == 200
        assert chat.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert list(chats[0].attributes["gen_ai.response.finish_reasons"]) == ["tool_calls"]
    assert tool.attributes["gen_ai.tool.call.id"] == "call_w1"
    assert tool.parent.span_id == agent.context.span_id
    for span in spans.get_finished_spans():
        assert all("Secret plans" not in str(value) for value in span.attributes.values())
        assert all("sunny" not in str(value) for value in span.attributes.values())
