"""The fake OpenAI server, checked with the real `openai` SDK (strict response validation on)."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakes.openai_server import FakeOpenAI, call, error, hang, malformed, text, tool_call, tool_calls

USER = [{"role": "user", "content": "hello there world"}]
ROOT = Path(__file__).resolve().parents[2]


def sync_client(fake, **options) -> OpenAI:
    options = {"api_key": "sk-test", "max_retries": 0, **options}
    return OpenAI(base_url=fake.base_url, _strict_response_validation=True, **options)


def async_client(fake, **options) -> AsyncOpenAI:
    options = {"api_key": "sk-test", "max_retries": 0, **options}
    return AsyncOpenAI(base_url=fake.base_url, _strict_response_validation=True, **options)


async def collect(stream) -> list:
    return [chunk async for chunk in stream]


async def read_into(stream, received: list) -> None:
    async for chunk in stream:
        received.append(chunk)


def content_of(chunks) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def test_models_lists_the_configured_models(fake_openai):
    assert fake_openai.base_url.endswith("/v1")
    client = sync_client(fake_openai)
    assert [m.id for m in client.models.list()] == ["gpt-4o", "gpt-4o-mini", "gpt-5", "o3-mini"]

    fake_openai.models = ["llama3", "qwen2"]
    page = client.models.list()
    assert [(m.id, m.object, m.owned_by) for m in page] == [
        ("llama3", "model", "system"),
        ("qwen2", "model", "system"),
    ]
    assert client.models.retrieve("qwen2").id == "qwen2"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_json_completion_echoes_the_user_and_counts_words(fake_openai):
    answer = sync_client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=USER)

    assert answer.object == "chat.completion"
    assert answer.model == "gpt-4o-mini"
    assert answer.choices[0].message.content == "You said: hello there world"
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        3,
        5,
        8,
    )


async def test_streamed_text_deltas_concatenate_and_end_with_usage(fake_openai):
    fake_openai.script(text("The quick brown fox jumps", chunks=5))
    client = async_client(fake_openai)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = await collect(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(content_of(chunks)) == 5
    assert "".join(content_of(chunks)) == "The quick brown fox jumps"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 5)
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1

    plain = await collect(await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert "".join(content_of(plain)) == "You said: hello there world"
    assert all(c.usage is None and c.choices for c in plain)


async def test_streamed_parallel_tool_calls_reassemble(fake_openai):
    fake_openai.script(
        tool_calls(
            call("agent__planner", {"task": "plan the trip", "days": 3}, id="call_fixed"),
            call("datasource__sales", {"query": "select 1"}),
            chunks=4,
        )
    )
    stream = await async_client(fake_openai).chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, tools=[]
    )
    chunks = await collect(stream)

    calls: dict[int, dict] = {}
    deltas_per_call: dict[int, int] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = delta.id or entry["id"]
            entry["name"] += delta.function.name or ""
            entry["arguments"] += delta.function.arguments or ""
            deltas_per_call[delta.index] = deltas_per_call.get(delta.index, 0) + 1

    assert sorted(calls) == [0, 1]
    assert calls[0]["id"] == "call_fixed"
    assert calls[1]["id"].startswith("call_")
    assert [calls[i]["name"] for i in (0, 1)] == ["agent__planner", "datasource__sales"]
    assert json.loads(calls[0]["arguments"]) == {"task": "plan the trip", "days": 3}
    assert json.loads(calls[1]["arguments"]) == {"query": "select 1"}
    assert deltas_per_call == {0: 5, 1: 5}  # the head, then the arguments in 4 pieces
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert all(not c.choices[0].delta.content for c in chunks)


def test_json_tool_call_and_text_before_it(fake_openai):
    fake_openai.script(tool_call("tool__search", {"q": "fake"}, content="Let me look."))
    answer = sync_client(fake_openai).chat.completions.create(model="gpt-4o", messages=USER)

    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me look."
    assert [(c.type, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("function", "tool__search", {"q": "fake"})
    ]


def test_steps_are_taken_in_order_then_the_default_answer(fake_openai):
    fake_openai.script(text("first"), text("again", times=2))
    client = sync_client(fake_openai)
    answers = [
        client.chat.completions.create(model="m", messages=USER).choices[0].message.content for _ in range(4)
    ]

    assert answers == ["first", "again", "again", "You said: hello there world"]
    assert fake_openai.pending == 0


def test_max_tokens_cuts_the_answer(fake_openai):
    answer = sync_client(fake_openai).chat.completions.create(model="gpt-4o", messages=USER, max_tokens=1)

    assert answer.choices[0].message.content == "You"
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 1


@pytest.mark.parametrize(
    ("status", "exception", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (403, openai.PermissionDeniedError, "unsupported_country_region_territory"),
        (404, openai.NotFoundError, "model_not_found"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
    ],
)
def test_error_statuses_raise_the_sdk_exception(fake_openai, status, exception, code):
    fake_openai.script(error(status))
    client = sync_client(fake_openai)
    with pytest.raises(exception) as raised:
        client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)

    assert raised.value.status_code == status
    assert raised.value.code == code
    assert raised.value.message
    assert client.chat.completions.create(model="gpt-4o", messages=USER).choices[0].message.content


def test_sdk_retries_take_one_step_each(fake_openai):
    fake_openai.script(error(429, headers={"retry-after-ms": "1"}, times=2), text("finally"))
    answer = sync_client(fake_openai, max_retries=2).chat.completions.create(model="gpt-4o", messages=USER)

    assert answer.choices[0].message.content == "finally"
    assert [r.headers["x-stainless-retry-count"] for r in fake_openai.chat_requests] == ["0", "1", "2"]


def test_models_can_be_scripted_to_fail(fake_openai):
    fake_openai.script_models(error(503), malformed())
    client = sync_client(fake_openai)
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    with pytest.raises(json.JSONDecodeError):
        client.models.list()
    assert len(client.models.list().data) == 4
    with pytest.raises(TypeError):
        fake_openai.script_models(text("not a model list"))


def test_bearer_key_is_checked_when_configured(fake_openai):
    fake_openai.api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError) as raised:
        sync_client(fake_openai, api_key="sk-wrong").models.list()
    assert raised.value.code == "invalid_api_key"
    assert "sk-wrong" not in raised.value.message

    missing = httpx.get(f"{fake_openai.base_url}/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("You didn't provide an API key")

    assert len(sync_client(fake_openai, api_key="sk-right").models.list().data) == 4
    assert [r.bearer for r in fake_openai.requests] == ["sk-wrong", None, "sk-right"]


def test_requests_are_recorded(fake_openai):
    tools = [{"type": "function", "function": {"name": "agent__x", "parameters": {"type": "object"}}}]
    sync_client(fake_openai, api_key="sk-recorded").chat.completions.create(
        model="gpt-5", messages=USER, tools=tools, max_tokens=50, reasoning_effort="low"
    )

    [request] = fake_openai.chat_requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-recorded"
    assert request.body["tools"] == tools
    assert request.body["messages"] == USER
    assert (request.body["max_tokens"], request.body["reasoning_effort"]) == (50, "low")


def test_bad_requests_and_unknown_paths_get_openai_errors(fake_openai):
    client = sync_client(fake_openai)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert raised.value.param == "messages"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert fake_openai.pending == 0


def test_malformed_bodies_break_the_sdk_parse(fake_openai):
    fake_openai.script(malformed(), malformed())
    client = sync_client(fake_openai)
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="gpt-4o", messages=USER)
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))


async def test_hang_never_answers_and_the_server_goes_on(fake_openai):
    fake_openai.script(hang())
    client = async_client(fake_openai, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="gpt-4o", messages=USER)

    answer = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert answer.choices[0].message.content == "You said: hello there world"


async def test_hang_after_stalls_mid_stream(fake_openai):
    fake_openai.script(text("one two six ten", chunks=4, hang_after=2))
    stream = await async_client(fake_openai, timeout=0.3).chat.completions.create(
        model="gpt-4o", messages=USER, stream=True
    )
    received = []
    with pytest.raises(openai.APITimeoutError):
        await read_into(stream, received)

    assert content_of(received) == ["one ", "two "]


async def test_fail_after_sends_an_error_event_mid_stream(fake_openai):
    fake_openai.script(text("one two six", chunks=3, fail_after=1))
    stream = await async_client(fake_openai).chat.completions.create(
        model="gpt-4o", messages=USER, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as raised:
        await read_into(stream, received)

    assert content_of(received) == ["one "]
    assert raised.value.type == "server_error"


async def test_reset_ends_a_hanging_request(fake_openai):
    fake_openai.script(hang(), text("kept?"))
    client = async_client(fake_openai)
    pending = asyncio.create_task(client.chat.completions.create(model="gpt-4o", messages=USER))
    await fake_openai.wait_for_requests(1)
    fake_openai.reset()

    with pytest.raises(openai.InternalServerError):
        await asyncio.wait_for(pending, 5)
    assert fake_openai.pending == 0
    answer = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert answer.choices[0].message.content == "You said: hello there world"


async def test_slow_stream_waits_before_the_first_token(fake_openai):
    fake_openai.script(text("slow answer here", chunks=3, ttft=0.2, chunk_delay=0.05))
    started = time.monotonic()
    stream = await async_client(fake_openai).chat.completions.create(
        model="gpt-4o", messages=USER, stream=True
    )
    arrivals = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)

    assert len(arrivals) == 3
    assert arrivals[0] >= 0.2
    assert arrivals[2] >= 0.3


async def test_many_concurrent_streams(fake_openai):
    fake_openai.chunk_delay = 0.01
    client = async_client(fake_openai)

    async def one(n: int) -> str:
        messages = [{"role": "user", "content": f"request {n}"}]
        stream = await client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        return "".join(content_of(await collect(stream)))

    answers = await asyncio.gather(*(one(n) for n in range(100)))
    assert answers == [f"You said: request {n}" for n in range(100)]


def test_fakes_of_different_tests_do_not_share_anything(fake_openai, make_fake_openai):
    other = make_fake_openai(api_key="sk-other", models=["only-model"])
    fake_openai.script(text("mine"))

    assert other.base_url != fake_openai.base_url
    answer = sync_client(other, api_key="sk-other").chat.completions.create(model="m", messages=USER)
    assert answer.choices[0].message.content == "You said: hello there world"
    assert [m.id for m in sync_client(other, api_key="sk-other").models.list()] == ["only-model"]
    assert fake_openai.requests == []
    assert fake_openai.pending == 1


def test_a_finished_fake_answers_nothing_more(fake_openai_host):
    with fake_openai_host.mount(FakeOpenAI()) as fake:
        fake.script(text("late"))
        client = sync_client(fake)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert fake.pending == 1


def test_standalone_server_for_benchmarks():
    reply = "a fixed reply from the benchmark server"
    options = ["--port", "0", "--chunks", "7", "--chunk-delay-ms", "1", "--reply", reply]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        client = OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
        assert len(content_of(chunks)) == 7
        assert "".join(content_of(chunks)) == reply
    finally:
        process.terminate()
        process.wait(timeout=10)
