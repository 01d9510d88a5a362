"""Scripted answers for the simple fakes (agent, search): a status and body, slow, hanging, redirecting."""

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from tests.fakes.server import Receive, Request, Send, send_bytes

MALFORMED_JSON = b'{"result": "cut sh'


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False


def json_reply(payload: Any, *, status: int = 200, delay: float = 0.0) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(), delay=delay)


def text_reply(text: str, *, status: int = 200, content_type: str = "text/plain") -> Reply:
    return Reply(status=status, body=text.encode(), content_type=content_type)


def malformed_reply() -> Reply:
    """A 200 that says JSON but is not."""
    return Reply(body=MALFORMED_JSON)


def redirect_reply(location: str, *, status: int = 302) -> Reply:
    return Reply(status=status, content_type="text/plain", headers={"location": location})


def hang_reply() -> Reply:
    """No answer until the client gives up."""
    return Reply(hang=True)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def send_reply(reply: Reply, send: Send, receive: Receive) -> None:
    if reply.hang:
        await _until_disconnect(receive)
        return
    if reply.delay > 0:
        try:
            await asyncio.wait_for(_until_disconnect(receive), reply.delay)
            return  # the client left before the answer was due
        except TimeoutError:
            pass
    await send_bytes(send, reply.status, reply.body, reply.content_type, reply.headers)


class ScriptedFake:
    """What the simple fakes share: replies queued by the test, and every request that arrived, guarded by
    a lock (the server runs in its own thread)."""

    def __init__(self) -> None:
        self.base_url = ""
        self._script: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Lock()

    def script(self, *replies: Reply) -> Self:
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_scripted(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None
