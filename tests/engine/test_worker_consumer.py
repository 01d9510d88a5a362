"""The run worker's consumer, driven as `runworker` drives it (a `channel` scope, `run.execute` messages),
here over the in-memory channel layer; `test_worker.py` runs the real `runworker` process over Redis."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator

from tests.engine.support import assert_well_numbered, listening
from tests.fakes.openai_server import text
from threads import services
from threads.selectors import run_events_after
from threads.worker import RunWorkerConsumer

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_worker_consumer_executes_the_runs_it_receives_concurrently(llm, thread, user, fake_openai):
    other = await sync_to_async(services.thread_create)(owner=user, user_id="customer-7")
    fake_openai.script(text("first", chunks=3, chunk_delay=0.2), text("second", chunks=3, chunk_delay=0.2))
    first = await sync_to_async(services.run_create)(thread=thread, task="one", options={})
    second = await sync_to_async(services.run_create)(thread=other, task="two", options={})
    worker = ApplicationCommunicator(RunWorkerConsumer.as_asgi(), {"type": "channel", "channel": "runs"})

    try:
        async with listening(thread) as first_events, listening(other) as second_events:
            await worker.send_input({"type": "run.execute", "run_id": "not-a-uuid"})
            await worker.send_input({"type": "run.execute", "run_id": str(first.id)})
            await worker.send_input({"type": "run.execute", "run_id": str(second.id)})
            first_end = await first_events.wait_terminal()
            second_end = await second_events.wait_terminal()
    finally:
        worker.stop()

    assert first_end["type"] == "run.completed"
    assert second_end["type"] == "run.completed"
    assert_well_numbered(await sync_to_async(run_events_after)(run_id=first.id, after_seq=0))
    # One worker, both runs at once: the second was streaming before the first ended.
    second_started = next(e for e in second_events.events if e["type"] == "run.in_progress")
    assert second_started["created_at"] < first_end["created_at"]
