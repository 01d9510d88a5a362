"""Runs a small ASGI app on 127.0.0.1 (a free port) with uvicorn in a background thread.

The fakes in this package are real HTTP servers: the code under test reaches them through its real clients
(openai, httpx, composio) over loopback, exactly as it would reach the outside system.
"""

import asyncio
import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(base_url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until a server started as `process` answers `/healthz` at `base_url`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.2)


@contextlib.contextmanager
def serve(app: ASGIApp, *, lifespan: str = "off") -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL, e.g. `http://127.0.0.1:54321`. Apps built
    by an SDK that starts its machinery at start-up (an MCP server's session manager) need `lifespan="on"`."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Request:
    """What a fake needs of an HTTP request: method, path, query, headers and the JSON body."""

    def __init__(self, scope: Scope, body: bytes):
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: dict[str, list[str]] = parse_qs(scope.get("query_string", b"").decode())
        self.headers: dict[str, str] = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


async def read_request(scope: Scope, receive: Receive) -> Request:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return Request(scope, body)


async def send_json(send: Send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    await send_bytes(send, status, json.dumps(payload).encode(), "application/json", headers)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "text/plain",
    headers: dict[str, str] | None = None,
) -> None:
    raw_headers = [(b"content-type", content_type.encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
