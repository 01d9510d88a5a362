"""Fixtures and helpers of the agent API tests: an LLM config on the fake OpenAI server, async HTTP clients
with a token, SSE parsing and websocket sockets on the real ASGI application."""

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from orchestrator_studio.asgi import application
from threads.models import Run

TERMINAL = {"run.completed", "run.failed", "run.cancelled"}


class TokenAsyncClient(AsyncClient):
    """An AsyncClient that sends `Authorization: Bearer <token>` with every request.

    (Per request: AsyncClient's own `headers=` argument turns into WSGI-style names on this Django.)
    """

    def __init__(self, raw_token: str):
        super().__init__()
        self.raw_token = raw_token

    def generic(self, method: str, path: str, *args: Any, headers: dict[str, str] | None = None, **kw: Any):
        return super().generic(
            method,
            path,
            *args,
            headers={"Authorization": f"Bearer {self.raw_token}", **(headers or {})},
            **kw,
        )


def async_client(api_client: Any) -> AsyncClient:
    """An async client with the token of one of the conftest's API clients (`user_client`, ...)."""
    client = TokenAsyncClient(api_client.raw_token)
    client.user = api_client.user
    return client


@pytest.fixture
def alice(user_client) -> AsyncClient:
    return async_client(user_client)


@pytest.fixture
def bob(other_client) -> AsyncClient:
    return async_client(other_client)


async def initiate(client: AsyncClient, **body: Any) -> str:
    response = await client.post("/api/agent/initiate", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["thread_id"]


async def execute(client: AsyncClient, thread_id: str, task: str = "Hello", **options: Any) -> Any:
    return await client.post(
        f"/api/agent/{thread_id}/execute", {"task": task, **options}, content_type="application/json"
    )


# --- SSE --------------------------------------------------------------------------------------------


def parse_sse(raw: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(frames as {"id", "event", "data"}, comments) of an SSE body."""
    frames, comments = [], []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        frame: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            field, _, value = line.partition(": ")
            frame[field] = json.loads(value) if field == "data" else value
        if frame:
            frames.append(frame)
    return frames, comments


async def read_sse(response: Any, timeout: float = 20) -> tuple[list[dict[str, Any]], list[str]]:
    """The whole body of a streaming (async) response, which ends after the run's terminal event."""

    async def read() -> str:
        chunks = [chunk async for chunk in response.streaming_content]
        return b"".join(chunks).decode()

    return parse_sse(await asyncio.wait_for(read(), timeout))


def deltas_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "message.delta")


def final_content(events: list[dict[str, Any]]) -> str:
    return [e for e in events if e["type"] == "message.completed"][-1]["content"]


# --- runs -------------------------------------------------------------------------------------------


async def run_status(run_id: str) -> str:
    return (await Run.objects.aget(pk=run_id)).status


async def wait_run_ended(run_id: str, timeout: float = 15) -> Run:
    """Wait (in the test, not the server) until the run reached a final status."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = await Run.objects.aget(pk=run_id)
        if run.status in Run.TERMINAL_STATUSES:
            return run
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run {run_id} still {run.status}")
        await asyncio.sleep(0.05)


async def run_count(**filters: Any) -> int:
    return await sync_to_async(Run.objects.filter(**filters).count)()


# --- websocket --------------------------------------------------------------------------------------


class Socket:
    """A websocket on the real ASGI application (origin check, token middleware, routing, consumer)."""

    def __init__(self, thread_id: str, token: str | None, origin: str | None = None):
        path = f"/ws/threads/{thread_id}/" + (f"?token={token}" if token is not None else "")
        headers = [(b"origin", origin.encode())] if origin else []
        self.communicator = WebsocketCommunicator(application, path, headers=headers)
        self.received: list[dict[str, Any]] = []

    async def connect(self) -> tuple[bool, Any]:
        return await self.communicator.connect(timeout=5)

    async def close_code(self) -> int:
        """The code the server closed an accepted socket with."""
        message = await self.communicator.receive_output(timeout=5)
        assert message["type"] == "websocket.close", message
        return message["code"]

    async def send(self, frame: Any) -> None:
        await self.communicator.send_json_to(frame)

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        frame = await self.communicator.receive_json_from(timeout=timeout)
        self.received.append(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 15) -> list[dict[str, Any]]:
        """Frames up to and including the first one that satisfies `predicate`."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            frames.append(frame)
            if predicate(frame):
                return frames

    async def until_terminal(self, timeout: float = 15) -> list[dict[str, Any]]:
        return await self.until(lambda f: f.get("type") in TERMINAL, timeout)

    async def nothing_more(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def disconnect(self) -> None:
        await self.communicator.disconnect()


async def open_socket(thread_id: str, token: str, origin: str | None = None) -> Socket:
    socket = Socket(thread_id, token, origin)
    connected, _ = await socket.connect()
    assert connected
    return socket
