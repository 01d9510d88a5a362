"""The transaction budget of a run: one transaction starts it (thread lock, user message, run,
`run.created`, `run.in_progress`, the context read), the first token is stored and published at once (one
flush of the event writer), and one transaction ends it (the answer, the remaining events, the terminal
event, the run's status and usage). A test, so that the count cannot creep back up."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.signals import connection_created

from tests.engine.support import assert_well_numbered, run_until_done, start
from tests.fakes.openai_server import text
from tests.transactions import (
    counter_on_pooled_threads,
    counter_on_sync_thread,
    counter_on_writer_thread,
    transactions_counted,
)
from threads import executors, services
from threads.memory import DEFAULT_SYSTEM_PROMPT
from threads.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

SIMPLE_RUN_TRANSACTIONS = 3


async def test_a_simple_run_commits_three_transactions(llm, thread, fake_openai, monkeypatch):
    fake_openai.script(text("Hello.", chunks=1), text("Fine, thanks.", chunks=1))
    # The executor's watcher (cancels, heartbeats) and the recovery sweep work once per interval for all
    # the runs of the process, not per run: the first run starts them, the watcher is kept out of the count.
    monkeypatch.setattr(executors, "CANCEL_POLL_SECONDS", 3600)
    await run_until_done(await start(thread, "Hi"))

    with transactions_counted() as counter:
        await counter_on_sync_thread(counter)
        await counter_on_writer_thread(counter)
        await counter_on_pooled_threads(counter)
        run = await start(thread, "How are you?")
        await executors.supervisor().runs[str(run.id)][0]
        committed = counter.committed
    events = await run_until_done(run)

    assert_well_numbered(events)
    assert [e["type"] for e in events] == [
        "run.created",
        "run.in_progress",
        "message.delta",
        "message.completed",
        "run.completed",
    ]
    assert committed == SIMPLE_RUN_TRANSACTIONS
    answer = await Message.objects.filter(run=run, role="assistant").aget()
    assert answer.content == "Fine, thanks."


async def test_a_run_on_a_thread_made_with_it_reads_no_context_from_the_store(llm, user, fake_openai):
    fake_openai.script(text("Hello.", chunks=1))
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def install(connection, **kwargs):
        connection.execute_wrappers.append(record)

    connection_created.connect(install)
    await sync_to_async(lambda: install(connections["default"]))()
    try:
        # A thread not saved yet, as /v1/chat makes one: created in the run's own transaction.
        run = await start(services.thread_build(owner=user, title="new"), "Only this.")
        events = await run_until_done(run)
    finally:
        connection_created.disconnect(install)
        await sync_to_async(lambda: connections["default"].execute_wrappers.remove(record))()

    assert events[-1]["type"] == "run.completed"
    context_reads = [
        sql
        for sql in statements
        if sql.lstrip().upper().startswith("SELECT")
        and ("threads_message" in sql or "threads_threadsummary" in sql)
    ]
    assert context_reads == []
    assert fake_openai.chat_requests[-1].body["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Only this."},
    ]
