"""Followers (SSE, /v1/chat and the websocket share `threads.follow`): one that joins after an event was
stored but before it was published misses nothing and sees nothing twice."""

import asyncio
from contextlib import aclosing

import pytest
from asgiref.sync import sync_to_async

from threads import services
from threads.engine.broadcast import (
    RUN_EVENTS,
    event_broadcast,
    event_build,
    events_broadcast,
    events_layer,
    thread_group,
)
from threads.event_hub import event_hub
from threads.follow import EventCursor, RunFollower
from threads.models import RunEvent

pytestmark = pytest.mark.django_db(transaction=True)


async def store(run, thread, seq: int, type: str = "message.delta", **fields):
    event = event_build(type=type, thread_id=thread.id, run_id=run.id, seq=seq, **fields)
    await RunEvent.objects.acreate(run=run, seq=seq, type=type, payload=event)
    return event


async def test_a_follower_joining_between_a_flush_and_its_publish_gets_each_event_once(llm, user):
    thread = await sync_to_async(services.thread_create)(owner=user, title="join")
    run = await sync_to_async(services.run_create)(thread=thread, task="go", options={})
    # A flush has committed seq 2 and 3; their publish has not happened yet.
    flushed = [await store(run, thread, 2, delta="a"), await store(run, thread, 3, delta="b")]

    seen = []
    async with aclosing(RunFollower(thread_id=thread.id, run_id=run.id).__aiter__()) as items:
        for _ in range(3):
            seen.append(await anext(items))
        # Now the flush is published, and the next one (stored, then published) follows.
        for event in flushed:
            await event_broadcast(event)
        later = [
            await store(run, thread, 4, delta="c"),
            await store(run, thread, 5, type="run.completed", usage={}),
        ]
        for event in later:
            await event_broadcast(event)
        async for item in items:
            if item is not None:
                seen.append(item)

    assert [event["seq"] for event in seen] == [1, 2, 3, 4, 5]
    assert [e.get("delta") for e in seen if e["type"] == "message.delta"] == ["a", "b", "c"]


async def test_a_live_event_after_a_lost_one_is_preceded_by_it_from_the_store(llm, user):
    thread = await sync_to_async(services.thread_create)(owner=user, title="gap")
    run = await sync_to_async(services.run_create)(thread=thread, task="go", options={})
    cursor = EventCursor()
    cursor.follow(run.id, 1)
    await store(run, thread, 2, delta="lost in transit")
    live = await store(run, thread, 3, delta="arrived")

    sent = await cursor.live(live, any_run=False)
    again = await cursor.live(live, any_run=False)

    assert [event["seq"] for event in sent] == [2, 3]
    assert again == []


async def test_a_follower_of_a_finished_run_ends_after_replaying_it(llm, user):
    thread = await sync_to_async(services.thread_create)(owner=user, title="done")
    run = await sync_to_async(services.run_create)(thread=thread, task="go", options={})
    await store(run, thread, 2, type="run.cancelled", usage={})

    async def follow():
        return [item async for item in RunFollower(thread_id=thread.id, run_id=run.id) if item is not None]

    events = await asyncio.wait_for(follow(), 10)

    assert [(e["seq"], e["type"]) for e in events] == [(1, "run.created"), (2, "run.cancelled")]


async def test_what_a_process_publishes_reaches_its_own_followers_at_once_and_only_once(llm, user):
    thread = await sync_to_async(services.thread_create)(owner=user, title="local")
    run = await sync_to_async(services.run_create)(thread=thread, task="go", options={})
    subscription = await event_hub().subscribe(thread.id)
    try:
        flushed = [await store(run, thread, 2, delta="a"), await store(run, thread, 3, delta="b")]
        await events_broadcast(flushed)
        # Already there: no round trip through the channel layer.
        assert [subscription.queue.get_nowait()["seq"] for _ in flushed] == [2, 3]

        # Another process's events arrive through the channel layer; ours, sent before them, came back
        # the same way and were skipped.
        elsewhere = await store(run, thread, 4, delta="c")
        message = {"type": RUN_EVENTS, "origin": "another process", "events": [elsewhere]}
        await events_layer().group_send(thread_group(thread.id), message)
        assert (await asyncio.wait_for(subscription.get(), 10))["seq"] == 4
        assert subscription.queue.empty()
    finally:
        await subscription.close()
