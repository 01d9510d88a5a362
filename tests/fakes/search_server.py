"""A fake search API speaking three providers' JSON, over real HTTP.

- SearXNG: `GET /searxng/search?q=&format=json` → `{"query", "results": [{"title", "url", "content"}]}`
- Tavily:  `POST /tavily/search` `{"query", "max_results"}` with `Authorization: Bearer <api_key>`
           → `{"query", "results": [{"title", "url", "content", "score"}]}`
- Brave:   `GET /brave/res/v1/web/search?q=&count=` with `X-Subscription-Token: <api_key>`
           → `{"web": {"results": [{"title", "url", "description"}]}}`
- Google:  `GET /google/customsearch/v1?key=&cx=&q=&num=` → `{"items": [{"title", "link", "snippet"}]}`

Every query has `result_count` results (`Result <i> for <query>`). A keyed provider answers 401 to a wrong
key. `script(...)` queues replies for the next requests; `requests` records what arrived.
"""

from typing import Any

from tests.fakes.scripted_reply import Reply, ScriptedFake, json_reply, send_reply
from tests.fakes.server import Receive, Request, Scope, Send, read_request


class FakeSearch(ScriptedFake):
    def __init__(self, *, api_key: str, result_count: int = 8) -> None:
        super().__init__()
        self.api_key = api_key
        self.result_count = result_count

    @property
    def searxng_url(self) -> str:
        return f"{self.base_url}/searxng/search"

    @property
    def tavily_url(self) -> str:
        return f"{self.base_url}/tavily/search"

    @property
    def brave_url(self) -> str:
        return f"{self.base_url}/brave/res/v1/web/search"

    @property
    def google_url(self) -> str:
        return f"{self.base_url}/google/customsearch/v1"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self._record(request)
        await send_reply(self._next_scripted() or self._answer(request), send, receive)

    def _hits(self, query: str) -> list[dict[str, str]]:
        return [
            {
                "title": f"Result {i} for {query}",
                "url": f"https://example.com/{i}",
                "snippet": f"About {query} ({i})",
            }
            for i in range(1, self.result_count + 1)
        ]

    def _answer(self, request: Request) -> Reply:
        if request.path == "/searxng/search" and request.method == "GET":
            query = request.query.get("q", [""])[0]
            if request.query.get("format") != ["json"]:
                return Reply(status=403, body=b"<html>format not allowed</html>", content_type="text/html")
            results = [
                {"title": h["title"], "url": h["url"], "content": h["snippet"]} for h in self._hits(query)
            ]
            return json_reply({"query": query, "results": results})
        if request.path == "/tavily/search" and request.method == "POST":
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return json_reply(
                    {"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401
                )
            body: Any = request.json() or {}
            query = body.get("query", "")
            hits = self._hits(query)[: int(body.get("max_results", 5))]
            results = [
                {"title": h["title"], "url": h["url"], "content": h["snippet"], "score": 0.9} for h in hits
            ]
            return json_reply({"query": query, "results": results})
        if request.path == "/brave/res/v1/web/search" and request.method == "GET":
            if request.headers.get("x-subscription-token") != self.api_key:
                return json_reply(
                    {"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}}, status=422
                )
            query = request.query.get("q", [""])[0]
            hits = self._hits(query)[: int(request.query.get("count", ["20"])[0])]
            results = [
                {
                    "title": h["title"],
                    "url": h["url"],
                    "description": f"<strong>{query}</strong> &amp; more ({i})",
                }
                for i, h in enumerate(hits, 1)
            ]
            return json_reply({"type": "search", "web": {"type": "search", "results": results}})
        if request.path == "/google/customsearch/v1" and request.method == "GET":
            if request.query.get("key") != [self.api_key]:
                return json_reply({"error": {"code": 400, "message": "API key not valid."}}, status=400)
            query = request.query.get("q", [""])[0]
            hits = self._hits(query)[: int(request.query.get("num", ["10"])[0])]
            items = [{"title": h["title"], "link": h["url"], "snippet": h["snippet"]} for h in hits]
            return json_reply({"kind": "customsearch#search", "items": items})
        return json_reply({"error": "not found"}, status=404)
