"""The `web_search` tool: a SearXNG JSON API, Tavily, Brave or Google Programmable Search, answered as
`[{"title", "url", "snippet"}]` capped at the tool's `max_results`."""

import html
import re
from typing import Any

from orchestrator_studio.errors import DomainError
from orchestrator_studio.http import FetchedResponse, http_request
from registry.connectors.tools.errors import ToolError
from registry.models import Tool

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_SNIPPET_CHARS = 1000
DEFAULT_MAX_RESULTS = 5
PROBE_QUERY = "test"
_TAG = re.compile(r"<[^>]+>")


def _text(value: Any, limit: int = MAX_SNIPPET_CHARS) -> str:
    if not isinstance(value, str):
        return ""
    return html.unescape(_TAG.sub("", value)).strip()[:limit]


def _normalised(items: Any, snippet_key: str, max_results: int, url_key: str = "url") -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise ToolError("The search provider answered without a list of results.")
    results = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(url_key), str):
            results.append(
                {
                    "title": _text(item.get("title"), 300),
                    "url": item[url_key],
                    "snippet": _text(item.get(snippet_key)),
                }
            )
        if len(results) >= max_results:
            break
    return results


def _payload(response: FetchedResponse) -> Any:
    if not response.ok:
        raise ToolError(f"The search provider answered HTTP {response.status_code}.")
    try:
        return response.json()
    except DomainError as exc:
        raise ToolError("The search provider answered a malformed (non-JSON) body.") from exc


async def search(config: dict[str, Any], query: str) -> list[dict[str, str]]:
    provider = config.get("provider") or "searxng"
    endpoint = config["endpoint"]
    max_results = int(config.get("max_results") or DEFAULT_MAX_RESULTS)
    timeout = float(config.get("timeout") or 30)
    api_key = config.get("api_key") or ""
    headers = {"Accept": "application/json"}
    if provider == "searxng":
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        response = await http_request(
            "GET",
            endpoint,
            timeout_seconds=timeout,
            headers=headers,
            params={"q": query, "format": "json"},
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
        data = _payload(response)
        return _normalised(data.get("results") if isinstance(data, dict) else None, "content", max_results)
    if provider == "tavily":
        if not api_key:
            raise ToolError("A Tavily search tool needs config.api_key.")
        headers["Authorization"] = f"Bearer {api_key}"
        response = await http_request(
            "POST",
            endpoint,
            timeout_seconds=timeout,
            headers=headers,
            json_body={"query": query, "max_results": max_results},
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
        data = _payload(response)
        return _normalised(data.get("results") if isinstance(data, dict) else None, "content", max_results)
    if provider == "brave":
        if not api_key:
            raise ToolError("A Brave search tool needs config.api_key.")
        headers["X-Subscription-Token"] = api_key
        response = await http_request(
            "GET",
            endpoint,
            timeout_seconds=timeout,
            headers=headers,
            params={"q": query, "count": max_results},
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
        data = _payload(response)
        web = data.get("web") if isinstance(data, dict) else None
        return _normalised(
            web.get("results", []) if isinstance(web, dict) else [], "description", max_results
        )
    if provider == "google":
        if not api_key or not config.get("cx"):
            raise ToolError("A Google search tool needs config.api_key and config.cx (the engine id).")
        response = await http_request(
            "GET",
            endpoint,
            timeout_seconds=timeout,
            headers=headers,
            params={"key": api_key, "cx": config["cx"], "q": query, "num": min(max_results, 10)},
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
        data = _payload(response)
        items = data.get("items", []) if isinstance(data, dict) else None
        return _normalised(items, "snippet", max_results, url_key="link")
    raise ToolError(f"Unknown search provider {provider!r}; use searxng, tavily, brave or google.")


async def call(tool: Tool, arguments: dict[str, Any]) -> Any:
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ToolError("query must be a non-empty string.")
    return {"results": await search(tool.full_config, query.strip())}


async def probe(tool: Tool) -> Any:
    """A real search for a neutral word: reachable, key accepted, and the hits it answers."""
    return {"query": PROBE_QUERY, "results": await search(tool.full_config, PROBE_QUERY)}
