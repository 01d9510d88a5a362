"""Initiate, execute and follow a run over SSE: stored events, live ones, resume, pings, one run at a time."""

import asyncio

import pytest

from tests.fakes.openai_server import hang, text
from tests.threads_api.conftest import (
    deltas_text,
    execute,
    final_content,
    initiate,
    parse_sse,
    read_sse,
    run_count,
    run_status,
    wait_run_ended,
)

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "The quick brown fox jumps over the lazy dog, twice, to be sure."


async def test_initiate_execute_stream_end_to_end(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=8))
    thread_id = await initiate(alice, title="Foxes", metadata={"channel": "web"})

    response = await execute(alice, thread_id, "Tell me about foxes")
    assert response.status_code == 202
    queued = response.json()
    assert queued["thread_id"] == thread_id
    assert queued["status"] == "queued"
    assert set(queued) >= {"thread_id", "run_id", "status", "created_at"}

    stream = await alice.get(f"/api/agent/{thread_id}/stream")
    assert stream.status_code == 200
    assert stream["Content-Type"].startswith("text/event-stream")
    assert stream["Cache-Control"].startswith("no-cache")
    frames, _ = await read_sse(stream)
    events = [frame["data"] for frame in frames]

    assert [frame["id"] for frame in frames] == [str(n) for n in range(1, len(frames) + 1)]
    assert all(frame["event"] == frame["data"]["type"] for frame in frames)
    assert events[0]["type"] == "run.created"
    assert events[-1]["type"] == "run.completed"
    assert all(e["run_id"] == queued["run_id"] and e["thread_id"] == thread_id for e in events)
    assert final_content(events) == ANSWER
    assert deltas_text(events) == ANSWER
    assert set(events[-1]["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


async def test_stream_resumes_after_last_event_id_and_last_id(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=12))
    thread_id = await initiate(alice)
    run_id = (await execute(alice, thread_id)).json()["run_id"]
    await wait_run_ended(run_id)
    full, _ = await read_sse(await alice.get(f"/api/agent/{thread_id}/stream?run_id={run_id}"))
    events = [f["data"] for f in full]
    assert deltas_text(events) == ANSWER

    for after in range(len(events)):
        by_header = await alice.get(f"/api/agent/{thread_id}/stream", headers={"Last-Event-ID": str(after)})
        by_query = await alice.get(f"/api/agent/{thread_id}/stream?last_id={after}")
        for response in (by_header, by_query):
            frames, _ = await read_sse(response)
            resumed = [f["data"] for f in frames]
            assert [e["seq"] for e in resumed] == list(range(after + 1, len(events) + 1))
            # Whatever the resume point, what was already seen plus the rest is the whole answer.
            assert deltas_text(events[:after]) + deltas_text(resumed) == ANSWER

    # The header wins over a stale query parameter (an EventSource reconnects with its first URL).
    frames, _ = await read_sse(
        await alice.get(
            f"/api/agent/{thread_id}/stream?last_id=1", headers={"Last-Event-ID": str(len(events) - 1)}
        )
    )
    assert [f["data"]["type"] for f in frames] == ["run.completed"]
    # Resuming after the terminal event ends at once.
    frames, _ = await read_sse(await alice.get(f"/api/agent/{thread_id}/stream?last_id={len(events)}"))
    assert frames == []


async def test_stream_joined_mid_run_has_no_gap_or_duplicate(alice, llm, fake_openai):
    # The answer stalls after four of its ten pieces, so the run is still going whenever the stream joins;
    # it ends when it is cancelled, after the stream has relayed a delta.
    fake_openai.script(text(ANSWER, chunks=10, hang_after=4))
    thread_id = await initiate(alice)
    run_id = (await execute(alice, thread_id)).json()["run_id"]
    stream = await alice.get(f"/api/agent/{thread_id}/stream?last_id=2")
    chunks = aiter(stream.streaming_content)
    body = ""
    while "event: message.delta" not in body:
        body += (await asyncio.wait_for(anext(chunks), 10)).decode()
    assert (await alice.post(f"/api/runs/{run_id}/cancel")).status_code == 202

    async def rest() -> str:
        return "".join([chunk.decode() async for chunk in chunks])

    frames, _ = parse_sse(body + await asyncio.wait_for(rest(), 20))
    events = [f["data"] for f in frames]
    assert [e["seq"] for e in events] == list(range(3, 3 + len(events)))
    assert events[-1]["type"] == "run.cancelled"
    streamed = deltas_text(events)
    assert streamed
    assert ANSWER.startswith(streamed)
    assert await run_status(run_id) == "cancelled"


async def test_idle_stream_sends_pings(alice, llm, fake_openai, settings):
    settings.SSE_PING_SECONDS = 0.2
    fake_openai.script(text("late", ttft=1.0))
    thread_id = await initiate(alice)
    await execute(alice, thread_id)
    frames, comments = await read_sse(await alice.get(f"/api/agent/{thread_id}/stream"))
    assert comments.count("ping") >= 2
    assert frames[-1]["event"] == "run.completed"


async def test_second_execute_while_running_is_409_and_one_run(alice, llm, fake_openai):
    fake_openai.script(hang())
    thread_id = await initiate(alice)
    first = await execute(alice, thread_id, "first")
    assert first.status_code == 202
    second = await execute(alice, thread_id, "second")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "run_active"
    assert await run_count(thread_id=thread_id) == 1

    cancel = await alice.post(f"/api/runs/{first.json()['run_id']}/cancel")
    assert cancel.status_code == 202
    assert (await wait_run_ended(first.json()["run_id"])).status == "cancelled"
    # The thread takes a new run once the active one ended.
    fake_openai.script(text("again"))
    third = await execute(alice, thread_id, "third")
    assert third.status_code == 202
    await wait_run_ended(third.json()["run_id"])


async def test_concurrent_executes_make_exactly_one_run(alice, llm, fake_openai):
    fake_openai.script(text("only one", chunk_delay=0.05))
    thread_id = await initiate(alice)
    responses = await asyncio.gather(*(execute(alice, thread_id, f"task {n}") for n in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 409, 409, 409]
    assert await run_count(thread_id=thread_id) == 1
    accepted = next(r for r in responses if r.status_code == 202).json()
    await wait_run_ended(accepted["run_id"])


async def test_deleting_the_thread_ends_its_stream(alice, llm, fake_openai):
    fake_openai.script(hang())
    thread_id = await initiate(alice)
    await execute(alice, thread_id)
    stream = await alice.get(f"/api/agent/{thread_id}/stream")
    reading = asyncio.ensure_future(read_sse(stream))
    await asyncio.sleep(0.2)
    assert (await alice.delete(f"/api/threads/{thread_id}/")).status_code == 204
    frames, _ = await reading
    assert frames[-1]["event"] == "run.cancelled"
