"""An HTTP datasource on loopback, speaking the seed's protocol with a Bearer token.

`POST /query {"query", "parameters"}` → `{"data": [objects], "row_count"}` (the query names a table of its
small dataset; `limit` in the parameters caps it), `GET /schema`, `/tables`, `/health`. `mode` makes it
misbehave on demand.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import Receive, Request, Scope, Send, read_request, send_bytes, send_json

TABLES: dict[str, list[dict[str, Any]]] = {
    "customers": [
        {"id": 1, "name": "Ada", "plan": "pro", "mrr": 49.5},
        {"id": 2, "name": "Linus", "plan": "free", "mrr": 0},
        {"id": 3, "name": "Grace", "plan": "pro", "mrr": 49.5, "churned": True},
    ],
    "events": [{"id": n, "kind": "login" if n % 2 else "logout"} for n in range(1, 2501)],
}
SCHEMA = {
    "tables": [
        {
            "name": "customers",
            "columns": [
                {"name": "id", "type": "integer"},
                {"name": "name", "type": "text"},
                {"name": "plan", "type": "text"},
                {"name": "mrr", "type": "numeric"},
                {"name": "churned", "type": "boolean"},
            ],
        },
        {"name": "events", "columns": [{"name": "id", "type": "integer"}, {"name": "kind", "type": "text"}]},
    ]
}


@dataclass
class FakeDatasource:
    """`mode`: "ok", "error_500", "error_401", "malformed" (not JSON), "slow" (answers after `delay`),
    "unhealthy" (/health says so)."""

    token: str = "http-ds-secret-token-5678"
    base_url: str = ""
    mode: str = "ok"
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)

    def reset(self) -> None:
        self.mode, self.delay = "ok", 0.0
        self.requests.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self.requests.append(request)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "error_500":
            await send_bytes(send, 500, b"<html><body>Internal Server Error</body></html>", "text/html")
            return
        if self.mode == "malformed":
            await send_bytes(send, 200, b"data: not json", "application/json")
            return
        if self.mode == "error_401" or request.headers.get("authorization") != f"Bearer {self.token}":
            await send_json(send, 401, {"detail": "Invalid or missing bearer token"})
            return
        route = (request.method, request.path)
        if route == ("GET", "/health"):
            status = "unhealthy" if self.mode == "unhealthy" else "healthy"
            await send_json(send, 200, {"status": status})
        elif route == ("GET", "/schema"):
            await send_json(send, 200, SCHEMA)
        elif route == ("GET", "/tables"):
            await send_json(send, 200, {"tables": list(TABLES)})
        elif route == ("POST", "/query"):
            await self._query(request, send)
        else:
            await send_json(send, 404, {"detail": "Not Found"})

    async def _query(self, request: Request, send: Send) -> None:
        body = request.json() or {}
        table = str(body.get("query", "")).strip().lower()
        if table not in TABLES:
            await send_json(send, 400, {"detail": f"Unknown table {table!r}"})
            return
        rows = TABLES[table]
        parameters = body.get("parameters") or {}
        if "plan" in parameters:
            rows = [row for row in rows if row.get("plan") == parameters["plan"]]
        await send_json(send, 200, {"data": rows, "row_count": len(rows)})
