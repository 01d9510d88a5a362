"""A server process killed (SIGKILL) between two flushes of its event writer, mid-stream: the run it was
executing loses at most its last flush window, recovery ends or retries it by the rules of
`threads.recovery`, and a follower that joins afterwards gets every stored event once, in order, up to the
run's one terminal event (issue 10, "Tests it must have").

Real processes: the run streams from the fake OpenAI server (slowly, one delta per flush) in a `uvicorn`
server that is killed after some deltas are stored; a second server, or this process, recovers it. They
share the tests' database (Postgres) and Redis."""

import asyncio
import os
import signal
import time
from typing import Any

import httpx
import pytest
from django.db import connection

from tests.approvals.conftest import stored_events, types_of, until_status
from tests.engine.processes import server_process
from tests.engine.support import assert_well_numbered
from tests.fakes.openai_server import text
from tests.threads_api.conftest import deltas_text, open_socket, parse_sse
from threads import recovery
from threads.models import Run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="processes share events through Redis"),
]

ANSWER = " ".join(f"word{n}" for n in range(20))
# One delta per chunk: 0.15 s apart, three times the publisher's coalescing window, so every delta is
# stored by a flush of its own and the kill falls between two of them.
CHUNK_DELAY = 0.15
DELTAS_BEFORE_KILL = 3


@pytest.fixture(autouse=True)
def shared_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the processes need a database they share with the tests (Postgres)")


async def started_in(base_url: str, token: str, task: str) -> tuple[str, str]:
    """A thread and a run started over HTTP in the server at `base_url` (which executes it, inline)."""
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        thread_id = (await http.post("/api/agent/initiate", json={})).json()["thread_id"]
        started = await http.post(f"/api/agent/{thread_id}/execute", json={"task": task})
        assert started.status_code == 202, started.text
        return thread_id, started.json()["run_id"]


async def killed_mid_stream(process: Any, run_id: str) -> list[dict[str, Any]]:
    """SIGKILL the server once some deltas of the run are stored; the events stored when it died."""
    deadline = time.monotonic() + 20
    while types_of(await stored_events(run_id)).count("message.delta") < DELTAS_BEFORE_KILL:
        assert time.monotonic() < deadline, "the run stored no deltas"
        await asyncio.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # A COMMIT that reached Postgres just before the kill still lands: read until two reads agree.
    stored = await stored_events(run_id)
    while True:
        await asyncio.sleep(0.1)
        again = await stored_events(run_id)
        if again == stored:
            return stored
        stored = again


def assert_cut_short(stored: list[dict[str, Any]], *, worker_pid: int) -> None:
    """What a process killed mid-stream leaves: its run in progress, the events of its flushes (seq from 1
    without gaps, no terminal one), the text cut short."""
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    assert types_of(stored)[:2] == ["run.created", "run.in_progress"]
    assert set(types_of(stored)[2:]) == {"message.delta"}
    assert DELTAS_BEFORE_KILL <= types_of(stored).count("message.delta") < 20
    assert ANSWER.startswith(deltas_text(stored))
    assert deltas_text(stored) != ANSWER
    run = Run.objects.get(pk=stored[0]["run_id"])
    assert run.status == "in_progress"
    assert run.worker_id.split(":")[-1] == str(worker_pid)


async def test_a_run_killed_between_two_flushes_is_run_again_and_a_follower_joining_after_gets_it_all_once(
    llm, fake_openai, user_client
):
    """No tool call had started and attempts are left: recovery queues the run again (`run.retrying`), a
    server claims it and runs it from the start; the stored events stay, the new ones follow them."""
    fake_openai.script(
        text(ANSWER, chunks=20, chunk_delay=CHUNK_DELAY),
        text("Twenty words, counted again.", chunks=5, chunk_delay=0.2),
    )
    token = user_client.raw_token

    with server_process() as (base_url, first):
        thread_id, run_id = await started_in(base_url, token, "Count to twenty")
        stored = await killed_mid_stream(first, run_id)
    await asyncio.to_thread(assert_cut_short, stored, worker_pid=first.pid)

    # The next server sweeps for orphans from its first request on: the run's heartbeat is a second old.
    with server_process(RUN_ORPHAN_AFTER_SECONDS="1", RUN_RECOVERY_INTERVAL_SECONDS="1") as (
        base_url,
        second,
    ):
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            # A follower joining after the kill (while the run is recovered and run again, or after).
            stream = await http.get(f"/api/agent/{thread_id}/stream", params={"run_id": run_id})
            assert stream.status_code == 200
            frames, _ = parse_sse(stream.text)
            finished = await until_status(run_id, "completed", timeout=20)
            # And one resuming from the middle of what the killed process stored.
            middle = stored[3]["seq"]
            resumed, _ = parse_sse(
                (
                    await http.get(
                        f"/api/agent/{thread_id}/stream", params={"run_id": run_id, "last_id": middle}
                    )
                ).text
            )

    events = await stored_events(run_id)
    assert_well_numbered(events)
    # What the killed process stored is kept as it was, first; the retry follows it.
    assert events[: len(stored)] == stored
    after = events[len(stored) :]
    assert types_of(after)[:2] == ["run.retrying", "run.in_progress"]
    assert (after[0]["attempt"], after[0]["reason"]) == (2, "worker_lost")
    assert types_of(after)[-2:] == ["message.completed", "run.completed"]
    assert types_of(events).count("run.completed") == 1
    assert deltas_text(after) == after[-2]["content"] == "Twenty words, counted again."
    assert (finished.attempts, finished.worker_id.split(":")[-1]) == (2, str(second.pid))
    # Each follower got every stored event once, in order, and nothing else.
    assert [frame["data"] for frame in frames] == events
    assert [int(frame["id"]) for frame in frames] == [e["seq"] for e in events]
    assert [frame["data"] for frame in resumed] == events[middle:]
    assert len(fake_openai.chat_requests) == 2


async def test_a_run_killed_between_two_flushes_with_no_attempt_left_is_failed_and_replayed_once(
    llm, fake_openai, user_client, settings
):
    """With no attempt left (`RUN_MAX_ATTEMPTS=1`) recovery fails the run `worker_lost`: one terminal event
    after the stored ones. A websocket that resumed the run before that gets the stored events from the
    store, then the terminal one live from the recovering process, each once."""
    settings.RUN_ORPHAN_AFTER_SECONDS = 1
    settings.RUN_MAX_ATTEMPTS = 1
    fake_openai.script(text(ANSWER, chunks=20, chunk_delay=CHUNK_DELAY))
    token = user_client.raw_token

    with server_process() as (base_url, first):
        thread_id, run_id = await started_in(base_url, token, "Count to twenty")
        stored = await killed_mid_stream(first, run_id)
    await asyncio.to_thread(assert_cut_short, stored, worker_pid=first.pid)

    socket = await open_socket(thread_id, token)
    try:
        await socket.send({"type": "resume", "run_id": run_id, "after": 0})
        replayed = [await socket.receive() for _ in stored]
        assert replayed == stored
        # Recovery, once the dead process's heartbeat is older than RUN_ORPHAN_AFTER_SECONDS.
        deadline = time.monotonic() + 10
        while not (recovered := await recovery.arecover()):
            assert time.monotonic() < deadline, "recovery never found the orphan"
            await asyncio.sleep(0.2)
        terminal = await socket.receive()
        assert await socket.nothing_more()
    finally:
        await socket.disconnect()

    assert recovered == [terminal]
    assert terminal["type"] == "run.failed"
    assert terminal["seq"] == len(stored) + 1
    assert terminal["error"]["code"] == "worker_lost"
    assert f":{first.pid}" in terminal["error"]["message"]
    events = await stored_events(run_id)
    assert_well_numbered(events)
    assert events == [*stored, terminal]
    run = await Run.objects.aget(pk=run_id)
    assert (run.status, run.error, run.attempts) == ("failed", terminal["error"], 1)
    # Recovered once: a later sweep finds nothing, and a follower joining now gets the same events.
    assert await recovery.arecover() == []
    late = await open_socket(thread_id, token)
    try:
        await late.send({"type": "resume", "run_id": run_id, "after": 0})
        assert [await late.receive() for _ in events] == events
        assert await late.nothing_more()
    finally:
        await late.disconnect()
