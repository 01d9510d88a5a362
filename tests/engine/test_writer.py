"""The event writer: the events of all runs of a process stored together (group commit), each run's `seq`
gapless and in order, and a run whose events can no longer be stored failing alone."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.db.backends.signals import connection_created

from tests.engine.support import assert_well_numbered, listening, run_until_done, start
from tests.fakes.openai_server import text
from threads import services
from threads.engine import events as event_types
from threads.engine.broadcast import event_build
from threads.engine.publisher import run_terminate
from threads.engine.writer import RunSuperseded, event_writer
from threads.models import Run, RunEvent, Thread
from threads.selectors import run_events_after

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 12
EVENT_TYPES = {
    value for name, value in vars(event_types).items() if name.isupper() and isinstance(value, str)
}
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


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is Postgres'")
async def test_flushes_of_events_alone_skip_the_fsync_and_a_runs_end_waits_for_it(llm, thread, fake_openai):
    fake_openai.script(text(ANSWER, chunks=8, chunk_delay=0.01))
    # What Postgres had in force for each statement that stored events: read on the same connection, in
    # the same transaction, right after the INSERT.
    seen: list[tuple[list[str], str]] = []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('INSERT INTO "threads_runevent"'):
            with context["cursor"].connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                mode = cursor.fetchone()[0]
            # A multi-row INSERT on Postgres passes each column as one array (UNNEST).
            values = [v for value in params for v in (value if isinstance(value, list) else [value])]
            types = [value for value in values if isinstance(value, str) and value in EVENT_TYPES]
            seen.append((types, mode))
        return result

    def install(connection, **kwargs):
        if record not in connection.execute_wrappers:
            connection.execute_wrappers.append(record)

    connection_created.connect(install)
    await sync_to_async(lambda: install(connections["default"]))()
    await sync_to_async(lambda: install(connections["default"]), thread_sensitive=False)()
    try:
        events = await run_until_done(await start(thread, "Go"))
    finally:
        connection_created.disconnect(install)

    assert events[-1]["type"] == "run.completed"
    deltas_alone = [mode for types, mode in seen if types and set(types) == {"message.delta"}]
    ending = [mode for types, mode in seen if "run.completed" in types]
    starting = [mode for types, mode in seen if "run.created" in types]
    assert deltas_alone
    assert set(deltas_alone) == {"off"}
    assert ending == ["on"]
    assert starting == ["on"]


async def test_without_async_commit_every_flush_waits_for_the_fsync(llm, thread, fake_openai, settings):
    settings.RUN_EVENTS_ASYNC_COMMIT = False
    fake_openai.script(text(ANSWER, chunks=4, chunk_delay=0.01))
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def install(connection, **kwargs):
        if record not in connection.execute_wrappers:
            connection.execute_wrappers.append(record)

    connection_created.connect(install)
    try:
        events = await run_until_done(await start(thread, "Go"))
    finally:
        connection_created.disconnect(install)

    assert events[-1]["type"] == "run.completed"
    assert any(sql.startswith('INSERT INTO "threads_runevent"') for sql in statements)
    assert not any("synchronous_commit" in sql for sql in statements)


def _taken_seq_2(run, thread):
    """Someone else (recovery re-queuing the run) stored seq 2 of a run that is still active."""
    taken = event_build(type="run.retrying", thread_id=thread.id, run_id=run.id, seq=2, attempt=2)
    RunEvent.objects.create(run=run, seq=2, type="run.retrying", payload=taken)


@pytest.mark.django_db(transaction=True)
def test_an_end_whose_own_events_find_their_seq_taken_changes_nothing(llm, user):
    thread = services.thread_create(owner=user, title="t")
    run = services.run_create(thread=thread, task="a", options={})
    _taken_seq_2(run, thread)
    delta = event_build(type="message.delta", thread_id=thread.id, run_id=run.id, seq=2, delta="hi")

    with pytest.raises(RunSuperseded):
        run_terminate(
            run_id=run.id,
            thread_id=thread.id,
            type="run.completed",
            fields={},
            updates={"status": Run.Status.COMPLETED},
            preceding=[delta],
        )

    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED
    assert run.finished_at is None
    stored = run_events_after(run_id=run.id, after_seq=0)
    assert [(e["seq"], e["type"]) for e in stored] == [(1, "run.created"), (2, "run.retrying")]


@pytest.mark.django_db(transaction=True)
def test_an_end_with_nothing_of_its_own_before_it_goes_after_a_taken_seq(llm, user):
    thread = services.thread_create(owner=user, title="t")
    run = services.run_create(thread=thread, task="a", options={})
    _taken_seq_2(run, thread)

    event = run_terminate(
        run_id=run.id,
        thread_id=thread.id,
        type="run.cancelled",
        fields={},
        updates={"status": Run.Status.CANCELLED},
        seq_hint=2,
    )

    assert event is not None
    assert event["seq"] == 3
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    stored = run_events_after(run_id=run.id, after_seq=0)
    assert [(e["seq"], e["type"]) for e in stored] == [
        (1, "run.created"),
        (2, "run.retrying"),
        (3, "run.cancelled"),
    ]
