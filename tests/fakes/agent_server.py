"""A fake external agent: `GET /health` and `POST` to any other path, over real HTTP.

By default it answers the health check `{"status": "ok"}` and every POST with
`{"result": "done: <task>", "received": <the JSON payload>}`. With `token` set, a request without
`Authorization: Bearer <token>` gets 401. `script(...)` queues replies (see `tests.fakes.scripted_reply`)
for the next authorized requests, health checks included; `requests` records every request that arrived.
"""

import threading
from collections import deque
from typing import Any

from tests.fakes.scripted_reply import Reply, json_reply, send_reply
from tests.fakes.server import Receive, Request, Scope, Send, read_request


class FakeAgent:
    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.base_url = ""
        self._script: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Lock()

    def script(self, *replies: Reply) -> "FakeAgent":
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        with self._lock:
            self._requests.append(request)
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            await send_reply(json_reply({"error": "unauthorized"}, status=401), send, receive)
            return
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        await send_reply(scripted or self._default(request), send, receive)

    @staticmethod
    def _default(request: Request) -> Reply:
        if request.method == "GET":
            return json_reply({"status": "ok"})
        payload: Any = request.json()
        task = payload.get("task") if isinstance(payload, dict) else None
        return json_reply({"result": f"done: {task}", "received": payload})
