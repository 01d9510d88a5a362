"""Cancellation: within a second, in-flight LLM and tool calls abandoned, exactly one `run.cancelled`."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from registry.models import ExternalAgent
from tests.engine.support import assert_well_numbered, listening, refreshed, run_until_done, start
from tests.fakes.openai_server import text, tool_call
from tests.fakes.scripted_reply import hang_reply
from threads import executors, services
from threads.engine.loop import runs_claim_queued
from threads.models import Run, RunEvent, Thread

pytestmark = pytest.mark.django_db(transaction=True)


async def test_cancel_mid_stream_ends_the_run_within_a_second(llm, thread, fake_openai):
    fake_openai.script(text("this answer never ends", chunks=6, hang_after=2))

    async with listening(thread) as listener:
        run = await start(thread, "talk forever")
        await asyncio.wait_for(listener.first_delta.wait(), 10)
        asked = time.monotonic()
        await services.arun_cancel(run=run)
        terminal = await listener.wait_terminal(timeout=5)
        waited = time.monotonic() - asked
        events = await run_until_done(run)

    assert terminal["type"] == "run.cancelled"
    assert waited < 1.0
    assert_well_numbered(events)
    run = await refreshed(run)
    assert run.status == "cancelled"
    assert run.finished_at is not None


async def test_a_cancel_asked_by_another_process_reaches_the_run_within_a_second(llm, thread, fake_openai):
    """Another server process only has the database: the executor's watcher must notice the flag."""
    fake_openai.script(text("this answer never ends", chunks=6, hang_after=2))

    async with listening(thread) as listener:
        run = await start(thread, "talk forever")
        await asyncio.wait_for(listener.first_delta.wait(), 10)
        asked = time.monotonic()
        await Run.objects.filter(pk=run.pk).aupdate(cancel_requested=True)
        terminal = await listener.wait_terminal(timeout=5)
        waited = time.monotonic() - asked

    assert terminal["type"] == "run.cancelled"
    assert waited < 1.0


async def test_cancel_abandons_tool_calls_in_flight(llm, thread, fake_openai, fake_agent):
    await ExternalAgent.objects.acreate(
        name="slow", url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=60
    )
    fake_agent.script(hang_reply())
    fake_openai.script(tool_call("agent__slow", {"task": "take your time"}))

    async with listening(thread) as listener:
        run = await start(thread, "ask the slow agent")
        for _ in range(500):
            if any(event["type"] == "tool_call.started" for event in listener.events):
                break
            await asyncio.sleep(0.01)
        asked = time.monotonic()
        await sync_to_async(services.run_cancel)(run=run)
        terminal = await listener.wait_terminal(timeout=5)
        waited = time.monotonic() - asked

    assert terminal["type"] == "run.cancelled"
    assert waited < 1.0
    events = await run_until_done(run)
    assert_well_numbered(events)
    assert not [event for event in events if event["type"] == "tool_call.completed"]


async def test_a_queued_run_is_cancelled_at_once_and_never_executes(llm, thread, fake_openai):
    run = await sync_to_async(services.run_create)(thread=thread, task="never mind", options={})

    run = await sync_to_async(services.run_cancel)(run=run)
    # No executor's claim takes it any more.
    assert await sync_to_async(runs_claim_queued)("some-worker", 10) == []

    assert run.status == "cancelled"
    types = [event.type async for event in RunEvent.objects.filter(run=run).order_by("seq")]
    assert types == ["run.created", "run.cancelled"]
    assert fake_openai.chat_requests == []


async def test_cancelling_an_ended_run_changes_nothing(llm, thread, fake_openai):
    fake_openai.script(text("done"))
    run = await start(thread, "quick")
    await run_until_done(run)

    run = await services.arun_cancel(run=await refreshed(run))

    assert run.status == "completed"
    assert await RunEvent.objects.filter(run=run).acount() == len(await run_until_done(run))
    assert not await RunEvent.objects.filter(run=run, type="run.cancelled").aexists()


async def test_deleting_a_thread_cancels_its_active_run(llm, thread, fake_openai):
    fake_openai.script(text("this answer never ends", chunks=6, hang_after=2))

    async with listening(thread) as listener:
        run = await start(thread, "talk forever")
        await asyncio.wait_for(listener.first_delta.wait(), 10)
        await sync_to_async(services.thread_delete)(thread=thread)
        terminal = await listener.wait_terminal(timeout=5)
        entry = executors.supervisor().runs.get(str(run.id))
        if entry is not None:
            await asyncio.wait_for(entry[0], 5)

    assert terminal["type"] == "run.cancelled"
    assert [event["type"] for event in listener.of_run(run.id)].count("run.cancelled") == 1
    assert not await Thread.objects.filter(pk=thread.pk).aexists()
    assert not await Run.objects.filter(pk=run.pk).aexists()
