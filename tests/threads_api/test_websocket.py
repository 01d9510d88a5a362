"""The thread websocket: start, follow, cancel and resume runs; refusals; bad frames."""

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from orchestrator_studio.models import ApiToken
from tests.fakes.openai_server import hang, text
from tests.threads_api.conftest import (
    Socket,
    deltas_text,
    final_content,
    initiate,
    open_socket,
    run_count,
    wait_run_ended,
)
from threads.engine.broadcast import event_broadcast, event_build
from threads.models import Run, RunEvent
from threads.selectors import run_events_after

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "Websockets carry every delta of this answer in order."


async def test_message_streams_events_to_terminal(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=6))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.send({"type": "message", "content": "Say something", "use_memory": False})
        events = await socket.until_terminal()
    finally:
        await socket.disconnect()
    assert events[0]["type"] == "run.created"
    assert events[-1]["type"] == "run.completed"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert deltas_text(events) == final_content(events) == ANSWER
    stored = await sync_to_async(run_events_after)(run_id=events[0]["run_id"], after_seq=0)
    assert stored == events


async def test_cancel_mid_stream_ends_the_run_within_a_second(alice, llm, fake_openai):
    fake_openai.script(text("This answer never finishes", hang_after=2))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.send({"type": "message", "content": "Go"})
        await socket.until(lambda f: f["type"] == "message.delta")
        asked = time.monotonic()
        await socket.send({"type": "cancel"})
        events = await socket.until_terminal(timeout=5)
        elapsed = time.monotonic() - asked
    finally:
        await socket.disconnect()
    assert events[-1]["type"] == "run.cancelled"
    assert elapsed < 1.0
    assert (await wait_run_ended(events[-1]["run_id"])).status == "cancelled"


async def test_resume_replays_a_finished_run_after_a_seq(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=10))
    thread_id = await initiate(alice)
    first = await open_socket(thread_id, alice.raw_token)
    try:
        await first.send({"type": "message", "content": "Hi"})
        events = await first.until_terminal()
    finally:
        await first.disconnect()

    run_id = events[0]["run_id"]
    second = await open_socket(thread_id, alice.raw_token)
    try:
        for after in (0, 3, len(events) - 1):
            await second.send({"type": "resume", "run_id": run_id, "after": after})
            replayed = await second.until_terminal()
            assert replayed == events[after:]
            assert deltas_text(events[:after]) + deltas_text(replayed) == ANSWER
        assert await second.nothing_more()
    finally:
        await second.disconnect()


async def test_resume_of_a_live_run_continues_without_gaps_or_duplicates(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=12, chunk_delay=0.05))
    thread_id = await initiate(alice)
    starter = await open_socket(thread_id, alice.raw_token)
    await starter.send({"type": "message", "content": "Hi"})
    # The starter sees a few events, then "drops" (disconnects) mid-run.
    seen = await starter.until(lambda f: f["type"] == "message.delta" and f["seq"] >= 4)
    await starter.disconnect()

    follower = Socket(thread_id, alice.raw_token)
    connected, _ = await follower.connect()
    assert connected
    try:
        after = seen[-1]["seq"]
        await follower.send({"type": "resume", "run_id": seen[0]["run_id"], "after": after})
        frames = await follower.until_terminal()
    finally:
        await follower.disconnect()
    # Live frames that reached the new socket before its resume frame was read come first; from the
    # replay on, every seq after the resume point arrives exactly once, in order, up to the terminal event.
    replay_start = max(i for i, f in enumerate(frames) if f["seq"] == after + 1)
    assert all(f["seq"] > after for f in frames[:replay_start])
    resumed = frames[replay_start:]
    assert [f["seq"] for f in resumed] == list(range(after + 1, resumed[-1]["seq"] + 1))
    assert resumed[-1]["type"] == "run.completed"
    assert deltas_text(seen) + deltas_text(resumed) == ANSWER


async def test_bad_frames_get_errors_and_the_socket_stays_open(alice, llm, fake_openai):
    fake_openai.script(text("still works"))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.communicator.send_to(text_data="{not json")
        assert (await socket.receive())["error"]["code"] == "bad_frame"
        await socket.communicator.send_to(bytes_data=b"\x00\x01")
        assert (await socket.receive())["error"]["code"] == "bad_frame"
        await socket.send(["message"])
        assert (await socket.receive())["error"]["code"] == "bad_frame"
        await socket.send({"type": "dance"})
        assert (await socket.receive())["error"]["code"] == "unknown_type"
        await socket.send({"type": "message", "content": ""})
        error = await socket.receive()
        assert error["type"] == "error"
        assert error["error"]["code"] == "validation_error"
        assert "content" in error["error"]["fields"]
        await socket.send({"type": "message", "content": "x", "use_tools": "yes"})
        assert (await socket.receive())["error"]["fields"] == {"use_tools": ["Must be true or false."]}
        await socket.send({"type": "message", "content": "x", "llm_config": "nope"})
        assert "llm_config" in (await socket.receive())["error"]["fields"]
        await socket.send({"type": "resume", "run_id": "not-a-uuid"})
        assert (await socket.receive())["error"]["code"] == "validation_error"
        await socket.send({"type": "resume", "run_id": "6f1c2a5e-0000-4000-8000-000000000000", "after": 0})
        assert (await socket.receive())["error"]["code"] == "not_found"
        await socket.send({"type": "resume", "run_id": "6f1c2a5e-0000-4000-8000-000000000000", "after": -1})
        assert (await socket.receive())["error"]["code"] == "validation_error"
        await socket.send({"type": "cancel"})
        assert (await socket.receive())["error"]["code"] == "no_active_run"
        assert await run_count(thread_id=thread_id) == 0

        await socket.send({"type": "message", "content": "And now a real one"})
        events = await socket.until_terminal()
        assert events[-1]["type"] == "run.completed"
        assert final_content(events) == "still works"
    finally:
        await socket.disconnect()


async def test_second_message_while_running_is_an_error_frame(alice, llm, fake_openai):
    fake_openai.script(hang())
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.send({"type": "message", "content": "first"})
        await socket.until(lambda f: f["type"] == "run.in_progress")
        await socket.send({"type": "message", "content": "second"})
        error = await socket.until(lambda f: f["type"] == "error")
        assert error[-1]["error"]["code"] == "run_active"
        assert await run_count(thread_id=thread_id) == 1
        await socket.send({"type": "cancel"})
        assert (await socket.until_terminal())[-1]["type"] == "run.cancelled"
    finally:
        await socket.disconnect()


async def test_every_socket_of_the_thread_gets_the_events(alice, staff_client, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=5))
    thread_id = await initiate(alice)
    mine = await open_socket(thread_id, alice.raw_token)
    staff = await open_socket(thread_id, staff_client.raw_token)
    try:
        await mine.send({"type": "message", "content": "Hi"})
        mine_events = await mine.until_terminal()
        staff_events = await staff.until_terminal()
    finally:
        await mine.disconnect()
        await staff.disconnect()
    assert mine_events == staff_events


async def test_refused_sockets_get_close_codes(alice, bob, llm):
    thread_id = await initiate(alice)

    for token in (None, "", "not-a-real-token"):
        socket = Socket(thread_id, token)
        assert (await socket.connect())[0]
        assert await socket.close_code() == 4401

    # The token of a deactivated user no longer opens anything.
    _, carol_token = await sync_to_async(ApiToken.issue)(user=await _inactive_user())
    socket = Socket(thread_id, carol_token)
    assert (await socket.connect())[0]
    assert await socket.close_code() == 4401

    unknown = Socket("6f1c2a5e-0000-4000-8000-000000000000", alice.raw_token)
    assert (await unknown.connect())[0]
    assert await unknown.close_code() == 4404
    garbage = Socket("not-a-thread", alice.raw_token)
    assert (await garbage.connect())[0]
    assert await garbage.close_code() == 4404

    foreign = Socket(thread_id, bob.raw_token)
    assert (await foreign.connect())[0]
    assert await foreign.close_code() == 4403


async def _inactive_user():
    return await get_user_model().objects.acreate(username="carol", is_active=False)


async def test_origin_check(alice, llm, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://gui.example.com"]
    thread_id = await initiate(alice)
    for origin in ("https://evil.example.net", "https://gui.example.com.evil.net", "null"):
        refused = Socket(thread_id, alice.raw_token, origin=origin)
        connected, _ = await refused.connect()
        assert not connected

    # The GUI's origin, a page of an allowed host, and clients that are not browsers (no Origin at all).
    for origin in ("https://gui.example.com", "http://localhost:3000", None):
        socket = Socket(thread_id, alice.raw_token, origin=origin)
        connected, _ = await socket.connect()
        assert connected
        await socket.disconnect()


async def test_run_started_elsewhere_reaches_the_socket(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=4))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        response = await alice.post(
            f"/api/agent/{thread_id}/execute", {"task": "via REST"}, content_type="application/json"
        )
        assert response.status_code == 202
        events = await socket.until_terminal()
    finally:
        await socket.disconnect()
    assert events[0]["run_id"] == response.json()["run_id"]
    assert final_content(events) == ANSWER
    await asyncio.sleep(0)


async def test_socket_that_leaves_mid_run_does_not_stop_it(alice, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=8, chunk_delay=0.05))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    await socket.send({"type": "message", "content": "Go on without me"})
    seen = await socket.until(lambda f: f["type"] == "message.delta")
    await socket.disconnect()
    run = await wait_run_ended(seen[0]["run_id"])
    assert run.status == "completed"
    stored = await sync_to_async(run_events_after)(run_id=run.id, after_seq=0)
    assert final_content(stored) == deltas_text(stored) == ANSWER


async def test_cancel_names_the_run(alice, llm, fake_openai):
    fake_openai.script(hang())
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.send({"type": "message", "content": "Wait"})
        started = await socket.until(lambda f: f["type"] == "run.in_progress")
        await socket.send({"type": "cancel", "run_id": started[-1]["run_id"]})
        assert (await socket.until_terminal(timeout=5))[-1]["type"] == "run.cancelled"
    finally:
        await socket.disconnect()


async def test_own_run_is_followed_from_its_first_event_and_gaps_are_filled(alice, llm, settings):
    # The run stays queued (no worker takes it). An event that never came live (stored, not broadcast)
    # reaches the socket that started the run from the store, before the next live one.
    settings.RUN_EXECUTOR = "worker"
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.send({"type": "message", "content": "Hello", "use_memory": False})
        run = None
        deadline = time.monotonic() + 10
        while run is None and time.monotonic() < deadline:
            run = await Run.objects.filter(thread_id=thread_id).afirst()
            await asyncio.sleep(0.02)
        assert run is not None
        stored = event_build(type="message.delta", thread_id=thread_id, run_id=run.id, seq=2, delta="Hel")
        await RunEvent.objects.acreate(run=run, seq=2, type="message.delta", payload=stored)
        live = event_build(type="message.delta", thread_id=thread_id, run_id=run.id, seq=3, delta="lo")
        await RunEvent.objects.acreate(run=run, seq=3, type="message.delta", payload=live)
        await event_broadcast(live)
        frames = [await socket.receive() for _ in range(3)]
        assert await socket.nothing_more()
    finally:
        await socket.disconnect()
    assert [(f["type"], f["seq"]) for f in frames] == [
        ("run.created", 1),
        ("message.delta", 2),
        ("message.delta", 3),
    ]
    assert deltas_text(frames) == "Hello"


async def test_a_flooding_socket_gets_error_frames_then_a_close_and_starts_no_run_per_frame(
    alice, llm, fake_openai, settings
):
    settings.WEBSOCKET_FRAMES_PER_SECOND = 0.001
    settings.WEBSOCKET_FRAME_BURST = 3
    settings.WEBSOCKET_FLOOD_CLOSE_AFTER = 5
    fake_openai.script(text("one answer", times=50))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        for n in range(50):
            await socket.send({"type": "message", "content": f"flood {n}", "use_memory": False})
        frames = []
        while True:
            message = await socket.communicator.receive_output(timeout=10)
            if message["type"] == "websocket.close":
                break
            frames.append(json.loads(message["text"]))
    finally:
        await socket.disconnect()

    assert message["code"] == 4429
    refused = [f for f in frames if f["type"] == "error" and f["error"]["code"] == "rate_limited"]
    assert len(refused) == settings.WEBSOCKET_FLOOD_CLOSE_AFTER
    # Only the frames within the burst were handled: at most one run each, never one per frame.
    assert 1 <= await run_count(thread_id=thread_id) <= settings.WEBSOCKET_FRAME_BURST
