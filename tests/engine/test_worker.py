"""The worker executor: runs sent to the `runs` channel are executed by a separate
`python manage.py runworker runs` process over Redis, and their events reach this process's subscribers.

It needs what a real deployment has: Redis for the channel layer and a database both processes share
(Postgres), so it runs when REDIS_URL is set (as in CI) on Postgres.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connection

from tests.engine.support import assert_well_numbered, listening, refreshed, start
from tests.fakes.openai_server import text
from threads import services
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


@pytest.fixture
def run_worker(settings):
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a database it shares with the tests (Postgres)")
    settings.RUN_EXECUTOR = "worker"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": shared_database_url(),
        "RUN_EXECUTOR": "worker",
        "RUN_HEARTBEAT_SECONDS": "1",
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
