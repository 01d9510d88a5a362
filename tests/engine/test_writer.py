"""The event writer: the events of all runs of a process stored together (group commit), each run's `seq`
gapless and in order, and a run whose events can no longer be stored failing alone."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from tests.engine.support import assert_well_numbered, listening, run_until_done, start
from tests.fakes.openai_server import text
from threads import services
from threads.engine.broadcast import event_build
from threads.engine.writer import RunSuperseded, event_writer
from threads.models import RunEvent, Thread
from threads.selectors import run_events_after

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 12
ANSWER = "alpha beta gamma delta epsilon zeta eta theta"


async def test_concurrent_runs_are_flushed_together_and_each_keeps_its_seq_gapless(llm, user, fake_openai):
    fake_openai.script(text(ANSWER, chunks=8, chunk_delay=0.002, times=RUNS))
    threads = [await sync_to_async(services.thread_create)(owner=user, title=f"t{n}") for n in range(RUNS)]
    flushes_before = event_writer().flushes

    async with listening(threads[0]) as listener:
        runs = await asyncio.gather(*(start(thread, f"question {n}") for n, thread in enumerate(threads)))
        stored = [await run_until_done(run) for run in runs]
        await listener.wait_terminal()

    for events in stored:
        assert_well_numbered(events)
        assert events[-1]["type"] == "run.completed"
        assert "".join(e["delta"] for e in events if e["type"] == "message.delta") == ANSWER
    # Published after being stored, in order: what the first thread's socket saw is what was stored.
    assert listener.of_run(runs[0].id) == stored[0]
    # Group commit: the runs' events shared flushes (run.created is stored by run creation itself).
    written = sum(len(events) - 1 for events in stored)
    assert event_writer().flushes - flushes_before < written


async def test_a_run_whose_seq_was_taken_fails_alone_in_a_shared_flush(llm, user):
    ours = await sync_to_async(services.thread_create)(owner=user, title="ours")
    theirs = await sync_to_async(services.thread_create)(owner=user, title="theirs")
    run_ok = await sync_to_async(services.run_create)(thread=ours, task="a", options={})
    run_taken = await sync_to_async(services.run_create)(thread=theirs, task="b", options={})
    # Someone else (recovery, a cancel) already stored seq 2 of the second run.
    taken = event_build(type="run.failed", thread_id=theirs.id, run_id=run_taken.id, seq=2, error={})
    await RunEvent.objects.acreate(run=run_taken, seq=2, type="run.failed", payload=taken)

    writer = event_writer()
    flushes_before = writer.flushes

    def event(run, thread_id):
        return [event_build(type="message.delta", thread_id=thread_id, run_id=run.id, seq=2, delta="hi")]

    ok, superseded = await asyncio.gather(
        writer.write(run_ok.id, event(run_ok, ours.id)),
        writer.write(run_taken.id, event(run_taken, theirs.id)),
        return_exceptions=True,
    )

    assert ok is None
    assert isinstance(superseded, RunSuperseded)
    assert writer.flushes - flushes_before == 1
    kept = await sync_to_async(run_events_after)(run_id=run_ok.id, after_seq=0)
    assert [(e["seq"], e["type"]) for e in kept] == [(1, "run.created"), (2, "message.delta")]
    other = await sync_to_async(run_events_after)(run_id=run_taken.id, after_seq=0)
    assert [(e["seq"], e["type"]) for e in other] == [(1, "run.created"), (2, "run.failed")]
    assert await Thread.objects.filter(pk__in=[ours.id, theirs.id]).acount() == 2
