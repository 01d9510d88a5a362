"""Every connection of a server's pool in use (here its only one, DATABASE_POOL_MAX_SIZE=1, held by a
request blocked on a row lock the test takes): what needs another connection answers, within the pool's
wait (DATABASE_CONNECT_TIMEOUT_SECONDS), the clear 503 error `database_unavailable` (the pool named), never
`internal_error`: a websocket frame gets an error frame and the socket stays open, a websocket handshake
is accepted to say so and closed 1013, REST, SSE and /v1/chat answer 503. Once the connection is free
again the same server serves all of them."""

import asyncio
import json
import os
import time
from typing import Any

import httpx
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import connect

from tests.engine.processes import server_process
from tests.engine.test_worker import shared_database_url
from tests.fakes.openai_server import text
from threads import services
from threads.models import Run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="the server's token cache and events are Redis"
    ),
]

POOL_WAIT_SECONDS = 1
UNAVAILABLE = "database_unavailable"


@pytest.fixture(autouse=True)
def shared_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the server needs a database it shares with the tests (Postgres)")


def row_locked(thread_id: Any) -> psycopg.Connection:
    """A connection of the test's own that holds a lock on the thread's row until it rolls back."""
    holder = psycopg.connect(shared_database_url())
    holder.execute("SELECT id FROM threads_thread WHERE id = %s FOR UPDATE", (thread_id,))
    return holder


def sessions_waiting_on_a_lock() -> int:
    with psycopg.connect(shared_database_url(), autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return row[0] if row else 0


async def until_a_session_waits_on_the_lock() -> None:
    deadline = time.monotonic() + 10
    while not await asyncio.to_thread(sessions_waiting_on_a_lock):
        assert time.monotonic() < deadline, "the request never reached the lock"
        await asyncio.sleep(0.05)


def assert_pool_saturated(error: dict[str, Any]) -> None:
    assert error["code"] == UNAVAILABLE
    assert "DATABASE_POOL_MAX_SIZE" in error["message"]


async def next_frame(socket: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


async def test_a_saturated_pool_answers_database_unavailable_and_the_server_serves_again_after(
    llm, fake_openai, user, user_client
):
    fake_openai.script(text("Served again.", chunks=2))
    token = user_client.raw_token
    headers = {"Authorization": f"Bearer {token}"}
    thread = await sync_to_async(services.thread_create)(owner=user, title="Saturated")
    locked = await sync_to_async(services.thread_create)(owner=user, title="Locked")

    settings = {"DATABASE_POOL_MAX_SIZE": "1", "DATABASE_CONNECT_TIMEOUT_SECONDS": str(POOL_WAIT_SECONDS)}
    with server_process(**settings) as (base_url, _):
        ws_url = base_url.replace("http", "ws") + f"/ws/threads/{thread.id}/?token={token}"
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20) as http:
            # Signed in (the token is cached in Redis from now on) with a socket open, before the pool fills.
            assert (await http.get("/api/threads/")).status_code == 200
            async with connect(ws_url) as socket:
                holder = await asyncio.to_thread(row_locked, locked.id)
                try:
                    # The pool's only connection, held by a request waiting for the row.
                    blocked = asyncio.create_task(
                        http.patch(f"/api/threads/{locked.id}/", json={"title": "x"})
                    )
                    await until_a_session_waits_on_the_lock()

                    started = time.monotonic()
                    await socket.send(json.dumps({"type": "message", "content": "Hello"}))
                    frame = await next_frame(socket)
                    assert frame["type"] == "error"
                    assert_pool_saturated(frame["error"])
                    assert time.monotonic() - started < POOL_WAIT_SECONDS + 5

                    async with connect(ws_url) as refused:
                        assert_pool_saturated((await next_frame(refused))["error"])
                        await refused.wait_closed()
                        assert refused.close_code == 1013

                    for answer in await asyncio.gather(
                        http.post(f"/api/agent/{thread.id}/execute", json={"task": "Hello"}),
                        http.get(f"/api/agent/{thread.id}/stream"),
                        http.post("/v1/chat", json={"prompt": "Hello"}),
                    ):
                        assert answer.status_code == 503, answer.text
                        assert_pool_saturated(answer.json()["error"])
                    assert not blocked.done()
                finally:
                    await asyncio.to_thread(holder.rollback)
                    await asyncio.to_thread(holder.close)
                assert (await blocked).status_code == 200

                # The connection is free again: the socket that got the error starts its run.
                await socket.send(json.dumps({"type": "message", "content": "Hello again"}))
                frames = []
                while not frames or frames[-1]["type"] not in ("run.completed", "run.failed", "error"):
                    frames.append(await next_frame(socket))
            assert frames[-1]["type"] == "run.completed", frames

    run = await Run.objects.aget(thread_id=thread.id)
    assert run.status == "completed"
    assert await Run.objects.filter(thread_id=thread.id).acount() == 1
