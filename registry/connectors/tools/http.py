"""The `http` tool: one HTTP API under a configured base URL. The LLM fills path, query and body; a path
that would leave the base URL (`..`, an absolute URL, `//host`, in any percent-encoding) is refused before
anything is sent, and a redirect that leads out of it is refused before it is followed."""

from typing import Any
from urllib.parse import unquote, urlsplit

from orchestrator_studio.http import FetchedResponse, RedirectRefused, http_request
from registry.connectors.scrub import scrub
from registry.connectors.tools.errors import ToolError
from registry.models import Tool

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
MAX_ERROR_SNIPPET = 300
BODYLESS_METHODS = {"GET", "HEAD"}
# Answers that mean the API is down or refuses our credentials; anything else shows it is reachable.
PROBE_FAILURES = {401, 403, 407}


def _fully_unquoted(path: str) -> str:
    for _ in range(5):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return path


def _under(url: str, base_url: str) -> bool:
    target, base = urlsplit(url), urlsplit(base_url)
    base_path = base.path.rstrip("/") + "/"
    return (target.scheme, target.hostname, target.port) == (base.scheme, base.hostname, base.port) and (
        target.path.rstrip("/") + "/"
    ).startswith(base_path)


def tool_url(base_url: str, path: Any) -> str:
    """`path` joined under `base_url`; `ToolError` when it would leave it."""
    if path in (None, ""):
        return base_url
    if not isinstance(path, str):
        raise ToolError("path must be a string.")
    for candidate in {path, _fully_unquoted(path)}:
        parts = urlsplit(candidate)
        if (
            parts.scheme
            or parts.netloc
            or candidate.startswith("//")
            or "\\" in candidate
            or any(segment in ("..", ".") for segment in parts.path.split("/"))
            or any(ord(char) < 32 for char in candidate)
        ):
            raise ToolError(
                f"The path {path[:200]!r} leaves the tool's base URL; use a relative path under it."
            )
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    if not _under(url, base_url):
        raise ToolError(f"The path {path[:200]!r} leaves the tool's base URL; use a relative path under it.")
    return url


def _headers(config: dict[str, Any]) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    if config.get("auth_token") and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {config['auth_token']}"
    return headers


def _secrets(tool: Tool) -> list[Any]:
    return list((tool.secret_config or {}).values())


def _query(arguments: dict[str, Any]) -> dict[str, Any] | None:
    query = arguments.get("query")
    if query in (None, {}):
        return None
    if not isinstance(query, dict) or any(
        not isinstance(v, str | int | float | bool) and v is not None for v in query.values()
    ):
        raise ToolError("query must be an object of plain values (strings, numbers, booleans).")
    return query


def _body(text: str, response: FetchedResponse) -> Any:
    if response.is_json and not response.truncated:
        try:
            return response.json() if response.content.strip() else None
        except ValueError:
            pass
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "\n[... cut short]"


async def call(tool: Tool, arguments: dict[str, Any]) -> Any:
    config = tool.full_config
    base_url = config["base_url"]
    method = str(config.get("method") or "GET").upper()
    url = tool_url(base_url, arguments.get("path"))
    body = arguments.get("body")
    if body in ({}, None):
        body = None
    elif method in BODYLESS_METHODS:
        raise ToolError(f"This tool sends {method} requests, which carry no body; use query instead.")
    try:
        response = await http_request(
            method,
            url,
            timeout_seconds=float(config.get("timeout") or 30),
            headers=_headers(config),
            params=_query(arguments),
            json_body=body,
            max_response_bytes=MAX_RESPONSE_BYTES,
            redirect_allowed=lambda target: _under(target, base_url),
        )
    except RedirectRefused:
        raise ToolError(
            "The API redirected outside the tool's base URL; the redirect was not followed."
        ) from None
    text = scrub(response.text, _secrets(tool))
    if not response.ok:
        snippet = text[:MAX_ERROR_SNIPPET].strip()
        raise ToolError(
            f"The API answered HTTP {response.status_code}" + (f": {snippet}" if snippet else ".")
        )
    if response.is_json and text != response.text:
        # The answer echoed a secret: hand back the scrubbed text rather than the parsed original.
        return {"status_code": response.status_code, "body": text[:MAX_TEXT_CHARS]}
    return {"status_code": response.status_code, "body": _body(text, response)}


async def probe(tool: Tool) -> Any:
    """`GET base_url` with the tool's headers: reachable, and not refusing our credentials."""
    config = tool.full_config
    response = await http_request(
        "GET",
        config["base_url"],
        timeout_seconds=min(float(config.get("timeout") or 30), 10.0),
        headers=_headers(config),
        max_response_bytes=64 * 1024,
    )
    if response.status_code >= 500 or response.status_code in PROBE_FAILURES:
        raise ToolError(f"The API answered HTTP {response.status_code}.")
    return {"status_code": response.status_code}
