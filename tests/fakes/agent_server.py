"""A fake external agent: `GET /health` and `POST` to any other path, over real HTTP.

By default it answers the health check `{"status": "ok"}` and every POST with
`{"result": "done: <task>", "received": <the JSON payload>}`. With `token` set, a request without
`Authorization: Bearer <token>` gets 401. `script(...)` queues replies (see `tests.fakes.scripted_reply`)
for the next authorized requests, health checks included; `requests` records every request that arrived.
"""

from typing import Any

from tests.fakes.scripted_reply import Reply, ScriptedFake, json_reply, send_reply
from tests.fakes.server import Receive, Request, Scope, Send, read_request


class FakeAgent(ScriptedFake):
    def __init__(self, *, token: str | None = None) -> None:
        super().__init__()
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self._record(request)
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            await send_reply(json_reply({"error": "unauthorized"}, status=401), send, receive)
            return
        await send_reply(self._next_scripted() or self._default(request), send, receive)

    @staticmethod
    def _default(request: Request) -> Reply:
        if request.method == "GET":
            return json_reply({"status": "ok"})
        payload: Any = request.json()
        task = payload.get("task") if isinstance(payload, dict) else None
        return json_reply({"result": f"done: {task}", "received": payload})
