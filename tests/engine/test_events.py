"""The publisher: numbered, stored before sent, token deltas coalesced, lossless live and on replay."""

import pytest
from asgiref.sync import sync_to_async

from tests.engine.support import assert_well_numbered, listening, run_until_done, start
from tests.fakes.openai_server import call, text, tool_calls
from threads.engine.publisher import DELTA_WINDOW_SECONDS
from threads.selectors import run_events_after

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = " ".join(f"word{n}" for n in range(120)) + " — done ✓"


def deltas_of(events):
    return "".join(event["delta"] for event in events if event["type"] == "message.delta")


async def test_deltas_concatenate_to_the_final_content_live_and_on_replay_after_any_seq(
    llm, thread, fake_openai
):
    chunks = 60
    fake_openai.script(text(ANSWER, chunks=chunks, chunk_delay=0.004))

    async with listening(thread) as listener:
        run = await start(thread, "talk to me")
        stored = await run_until_done(run)
        await listener.wait_terminal()

    live = listener.of_run(run.id)
    assert live == stored
    assert_well_numbered(stored)
    final = next(event for event in stored if event["type"] == "message.completed")
    assert final["content"] == ANSWER
    assert deltas_of(live) == ANSWER

    # Coalesced: far fewer delta events than chunks streamed, and the first one went out alone at once.
    delta_events = [event for event in stored if event["type"] == "message.delta"]
    assert 1 < len(delta_events) < chunks
    assert delta_events[0]["delta"] == ANSWER[: len(delta_events[0]["delta"])]
    assert len(delta_events[0]["delta"]) < len(ANSWER) / chunks * 3

    # A client that saw events up to any seq and then replays the rest ends with exactly the answer.
    for seen in range(len(stored) + 1):
        replayed = await sync_to_async(run_events_after)(run_id=run.id, after_seq=seen)
        assert [event["seq"] for event in replayed] == list(range(seen + 1, len(stored) + 1))
        assert deltas_of(stored[:seen]) + deltas_of(replayed) == ANSWER


async def test_a_slow_stream_still_sends_its_deltas_within_the_coalescing_window(llm, thread, fake_openai):
    fake_openai.script(text("one two three four", chunks=4, chunk_delay=DELTA_WINDOW_SECONDS * 4))

    run = await start(thread, "slowly")
    events = await run_until_done(run)

    # Each chunk came after the window had closed, so none waited for the next one.
    assert len([event for event in events if event["type"] == "message.delta"]) == 4
    assert deltas_of(events) == "one two three four"


async def test_content_before_tool_calls_is_its_own_message(llm, thread, fake_openai, fake_agent):
    from registry.models import ExternalAgent

    await ExternalAgent.objects.acreate(name="helper", url=fake_agent.base_url, auth_token=fake_agent.token)
    fake_openai.script(
        tool_calls(call("agent__helper", {"task": "t"}), content="Let me ask the helper."),
        text("The helper is done."),
    )

    run = await start(thread, "go")
    events = await run_until_done(run)

    assert_well_numbered(events)
    completed = [event for event in events if event["type"] == "message.completed"]
    assert [event["content"] for event in completed] == ["Let me ask the helper.", "The helper is done."]
    first_message_end = completed[0]["seq"]
    assert deltas_of(events[:first_message_end]) == "Let me ask the helper."
    assert deltas_of(events[first_message_end:]) == "The helper is done."
