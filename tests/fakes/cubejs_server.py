"""A Cube.js REST API on loopback: `/cubejs-api/v1/meta` and `/cubejs-api/v1/load` (GET ?query= or POST).

It checks the `Authorization` header as Cube.js does (the raw token, no scheme), answers `{"error":
"Continue wait"}` for as many polls as asked, evaluates queries (dimensions, count/sum measures, `equals`
filters, limit) over a small fixed `Orders` cube, and can misbehave on demand (`mode`).
"""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import Receive, Request, Scope, Send, read_request, send_bytes, send_json

ORDERS = [
    {"Orders.status": "completed", "Orders.city": "Oslo", "amount": 120},
    {"Orders.status": "completed", "Orders.city": "Lima", "amount": 80},
    {"Orders.status": "processing", "Orders.city": "Oslo", "amount": 45},
    {"Orders.status": "shipped", "Orders.city": "Kyiv", "amount": 300},
    {"Orders.status": "completed", "Orders.city": "Kyiv", "amount": 15},
]
MEASURES = {
    "Orders.count": ("count", "number"),
    "Orders.totalAmount": ("sum", "number"),
}
DIMENSIONS = {"Orders.status": "string", "Orders.city": "string"}
META = {
    "cubes": [
        {
            "name": "Orders",
            "title": "Orders",
            "measures": [{"name": name, "title": name, "type": kind} for name, (_, kind) in MEASURES.items()],
            "dimensions": [{"name": name, "title": name, "type": kind} for name, kind in DIMENSIONS.items()],
            "segments": [],
        },
        {
            "name": "Users",
            "title": "Users",
            "measures": [{"name": "Users.count", "title": "Users Count", "type": "number"}],
            "dimensions": [{"name": "Users.country", "title": "Users Country", "type": "string"}],
            "segments": [],
        },
    ]
}
INVALID_QUERY = (
    "Query should contain either measures, dimensions or timeDimensions with granularities in order to be"
    " valid"
)


@dataclass
class FakeCubejs:
    """`mode`: "ok", "error_500", "malformed" (a body that is not JSON), "slow" (answers after `delay`)."""

    token: str = "cube-secret-token-1234"
    base_url: str = ""
    mode: str = "ok"
    continue_wait_polls: int = 0
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    queries: list[Any] = field(default_factory=list)

    def reset(self) -> None:
        self.mode, self.continue_wait_polls, self.delay = "ok", 0, 0.0
        self.requests.clear()
        self.queries.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self.requests.append(request)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "error_500":
            await send_json(send, 500, {"error": "Error: connect ECONNREFUSED 10.0.0.5:5432"})
            return
        if self.mode == "malformed":
            await send_bytes(send, 200, b'{"cubes": [', "application/json")
            return
        if request.headers.get("authorization") != self.token:
            await send_json(send, 403, {"error": "Invalid token"})
            return
        if request.path == "/cubejs-api/v1/meta" and request.method == "GET":
            await send_json(send, 200, META)
        elif request.path == "/cubejs-api/v1/load" and request.method in ("GET", "POST"):
            await self._load(request, send)
        else:
            await send_json(send, 404, {"error": f"Cannot {request.method} {request.path}"})

    async def _load(self, request: Request, send: Send) -> None:
        if request.method == "GET":
            raw = request.query.get("query", [""])[0]
        else:
            raw = (request.json() or {}).get("query")
        query = json.loads(raw) if isinstance(raw, str) else raw
        self.queries.append(query)
        if self.continue_wait_polls > 0:
            self.continue_wait_polls -= 1
            await send_json(send, 200, {"error": "Continue wait"})
            return
        if not isinstance(query, dict) or not (query.get("measures") or query.get("dimensions")):
            await send_json(send, 400, {"error": INVALID_QUERY})
            return
        unknown = [
            m
            for m in [*query.get("measures", []), *query.get("dimensions", [])]
            if m not in MEASURES and m not in DIMENSIONS
        ]
        if unknown:
            await send_json(send, 400, {"error": f"Error: '{unknown[0]}' not found for path '{unknown[0]}'"})
            return
        await send_json(send, 200, self._result(query))

    def _result(self, query: dict[str, Any]) -> dict[str, Any]:
        dimensions = list(query.get("dimensions", []))
        measures = list(query.get("measures", []))
        rows = [row for row in ORDERS if _matches(row, query.get("filters", []))]
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row[d] for d in dimensions), []).append(row)
        data = []
        for key, members in sorted(groups.items()):
            record: dict[str, Any] = dict(zip(dimensions, key, strict=True))
            for measure in measures:
                kind = MEASURES[measure][0]
                value = len(members) if kind == "count" else sum(member["amount"] for member in members)
                record[measure] = str(value)  # Cube.js sends numbers as strings
            data.append(record)
        limit = query.get("limit", 10_000)
        return {
            "query": query,
            "data": data[:limit],
            "annotation": {
                "measures": {m: {"title": m, "type": "number"} for m in measures},
                "dimensions": {d: {"title": d, "type": "string"} for d in dimensions},
                "segments": {},
                "timeDimensions": {},
            },
            "lastRefreshTime": "2024-01-01T00:00:00.000Z",
        }


def _matches(row: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for condition in filters:
        if condition.get("operator") == "equals" and row.get(condition["member"]) not in condition["values"]:
            return False
    return True
