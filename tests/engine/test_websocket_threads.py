"""The sync thread of a websocket's handshake and frames (`threads.ws_auth.own_sync_thread`) is lent from a
pool, as HTTP requests' are: frames one after the other reuse one thread instead of starting and joining a
new one each (about 0.45 ms of CPU per frame), and each still gives its database connection back."""

import asyncio
import time

import pytest
from django.db import connection, connections

from tests.engine.support import run_until_done, start
from tests.fakes.openai_server import text
from tests.threads_api.conftest import open_socket
from threads import ws_auth

pytestmark = pytest.mark.django_db(transaction=True)


def _taken(pool) -> int:
    """Connections of the process's pool checked out (0 without a pool)."""
    if pool is None:
        return 0
    stats = pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


async def test_frames_one_after_the_other_reuse_one_pooled_thread(llm, fake_openai, thread, user_client):
    fake_openai.script(text("Stored.", chunks=1))
    run = await start(thread, "hi")
    events = await run_until_done(run)
    pool = connections["default"].pool if connection.vendor == "postgresql" else None
    taken_before = _taken(pool)
    started_before = ws_auth._frame_executors.started

    socket = await open_socket(str(thread.id), user_client.raw_token)
    try:
        for _ in range(20):
            await socket.send({"type": "resume", "run_id": str(run.id), "after": len(events) - 1})
            assert await socket.receive() == events[-1]
        # No connection is kept by the frames' thread once a frame is done (its answer goes out before the
        # block that closes the connection ends).
        deadline = time.monotonic() + 5
        while _taken(pool) != taken_before and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert _taken(pool) == taken_before
    finally:
        await socket.disconnect()

    # The handshake's thread and the frames': one executor, lent again and again (two at most, when a
    # frame came before the handshake's was given back).
    assert ws_auth._frame_executors.started - started_before <= 2
    assert ws_auth._frame_executors.idle >= 1
