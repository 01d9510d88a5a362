"""The worker executor: runs sent to the `runs` channel are executed by a separate
`python manage.py runworker runs` process over Redis, and their events reach this process's subscribers.

It needs what a real deployment has: Redis for the channel layer and a database both processes share
(Postgres), so it runs when REDIS_URL is set (as in CI) on Postgres.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connection

from tests.engine.support import assert_well_numbered, listening, refreshed, start
from tests.fakes.openai_server import text
from threads import executors, services
from threads.models import Run
from threads.selectors import run_events_after

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the worker executor needs REDIS_URL (Redis)"),
]

BASE_DIR = Path(django_settings.BASE_DIR)


def shared_database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    user = quote(db["USER"] or "", safe="")
    return f"postgresql://{user}{password}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


@contextlib.contextmanager
def worker_process(**env_extra: str) -> Iterator[subprocess.Popen]:
    """A `runworker runs` process on the tests' database; stopped (and its traceback shown) at the end."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": shared_database_url(),
        "RUN_EXECUTOR": "worker",
        "RUN_HEARTBEAT_SECONDS": "1",
        **env_extra,
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "runs"], cwd=BASE_DIR, env=env, stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")
            if "Traceback" in output:
                print(output)


@pytest.fixture
def worker_executor(settings):
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a database it shares with the tests (Postgres)")
    settings.RUN_EXECUTOR = "worker"


@pytest.fixture
def run_worker(worker_executor):
    with worker_process() as process:
        yield process


async def test_a_run_executed_by_a_runworker_process_streams_to_this_process(
    llm, thread, fake_openai, run_worker
):
    fake_openai.script(
        text("Answered by the worker.", chunks=5), text("never finished", chunks=6, hang_after=2)
    )

    async with listening(thread) as listener:
        run = await start(thread, "hello worker")
        terminal = await listener.wait_terminal(timeout=60)

    assert terminal["type"] == "run.completed"
    events = await sync_to_async(run_events_after)(run_id=run.id, after_seq=0)
    assert_well_numbered(events)
    assert listener.of_run(run.id) == events
    final = next(event for event in events if event["type"] == "message.completed")
    assert final["content"] == "Answered by the worker."
    run = await refreshed(run)
    assert run.status == "completed"
    assert run.worker_id
    assert run.worker_id.split(":")[-1] == str(run_worker.pid)

    # A cancel asked here reaches the run in the worker process through the database, within a second.
    async with listening(thread) as listener:
        second = await start(thread, "talk forever")
        await asyncio.wait_for(listener.first_delta.wait(), 30)
        asked = time.monotonic()
        await services.arun_cancel(run=second)
        terminal = await listener.wait_terminal(timeout=10)
        waited = time.monotonic() - asked

    assert terminal["type"] == "run.cancelled"
    assert waited < 1.0
    assert (await refreshed(second)).status == "cancelled"


async def until(condition, timeout: float = 60, interval: float = 0.1):
    """Poll `condition()` (a sync database read) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await sync_to_async(condition)()
        if found:
            return found
        await asyncio.sleep(interval)
    raise AssertionError("the condition did not come true in time")


async def test_a_run_queued_while_no_worker_runs_waits_and_one_killed_mid_run_is_run_again(
    llm, thread, fake_openai, worker_executor, settings
):
    # The first attempt streams two deltas and stalls; the second answers.
    fake_openai.script(
        text("never finished", chunks=6, hang_after=2), text("Answered after a crash.", chunks=3)
    )
    fast_recovery = {"RUN_ORPHAN_AFTER_SECONDS": "2", "RUN_RECOVERY_INTERVAL_SECONDS": "1"}
    settings.RUN_ORPHAN_AFTER_SECONDS, settings.RUN_RECOVERY_INTERVAL_SECONDS = 2, 1

    async with listening(thread) as listener:
        # No worker yet: accepted, and it waits in the database.
        run = await start(thread, "survive a crash")
        assert (await refreshed(run)).status == "queued"
        # This process sweeps as a server of the worker executor does (and wakes the workers).
        executors.scheduling_start()
        with worker_process(**fast_recovery) as first:
            await asyncio.wait_for(listener.first_delta.wait(), 60)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        # A worker that comes up later notices the dead one's run and runs it again from the start.
        with worker_process(**fast_recovery) as second:
            terminal = await listener.wait_terminal(timeout=60)
            await until(lambda: Run.objects.filter(pk=run.pk, status="completed").exists())

    assert terminal["type"] == "run.completed"
    events = await sync_to_async(run_events_after)(run_id=run.id, after_seq=0)
    assert_well_numbered(events)
    # The second attempt's events all reached this process (the dead one may have died before publishing).
    retried_at = next(e["seq"] for e in events if e["type"] == "run.retrying")
    assert [e for e in listener.of_run(run.id) if e["seq"] >= retried_at] == events[retried_at - 1 :]
    types = [event["type"] for event in events]
    assert types.count("run.retrying") == 1
    assert types.count("run.in_progress") == 2
    retrying = events[types.index("run.retrying")]
    assert retrying["attempt"] == 2
    assert retrying["reason"] == "worker_lost"
    assert events[-2]["content"] == "Answered after a crash."
    finished = await refreshed(run)
    assert finished.attempts == 2
    assert finished.worker_id.split(":")[-1] == str(second.pid)
