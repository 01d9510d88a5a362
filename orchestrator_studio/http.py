"""The one outbound HTTP client of the product: timeouts always, the egress guard before every hop.

Connectors call `http_request`; it never follows a redirect without checking it, never waits longer than
the caller's timeout in total, and caps how much of a response it reads.
"""

import asyncio
import json
import socket
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from orchestrator_studio import __version__
from orchestrator_studio.egress import egress_check
from orchestrator_studio.errors import DomainError

MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024
USER_AGENT = f"OrchestratorStudio/{__version__}"

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


class OutboundError(DomainError):
    """The outside system could not be reached or did not answer in time."""

    status_code = 502
    code = "upstream_error"


@dataclass
class FetchedResponse:
    status_code: int
    headers: httpx.Headers
    content: bytes
    truncated: bool
    elapsed_ms: float
    url: str
    _json: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("content-type", "")

    def json(self) -> Any:
        """The body as JSON; `OutboundError` when it is not JSON."""
        try:
            return json.loads(self.content)
        except ValueError as exc:
            raise OutboundError(f"Expected JSON from {self.url}, got a malformed body.") from exc


def shared_client() -> httpx.AsyncClient:
    """One pooled client per event loop (an AsyncClient cannot be shared across loops)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            trust_env=False,
        )
        _clients[loop] = client
    return client


async def http_request(
    method: str,
    url: str,
    *,
    timeout_seconds: float,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> FetchedResponse:
    """Send one request (following up to 5 checked redirects) and read at most `max_response_bytes`.

    Raises `EgressRefused` for a refused target, `OutboundError` for connection errors and timeouts. An HTTP
    error status is not an exception: callers decide what a 4xx/5xx means for them.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            return await _send(
                method, url, timeout_seconds, headers, params, json_body, max_response_bytes, started
            )
    except TimeoutError as exc:
        raise OutboundError(
            f"No answer from {origin_of(url)} within {timeout_seconds:g}s.", code="upstream_timeout"
        ) from exc
    except httpx.TimeoutException as exc:
        raise OutboundError(
            f"No answer from {origin_of(url)} within {timeout_seconds:g}s.", code="upstream_timeout"
        ) from exc
    except httpx.ConnectError as exc:
        raise OutboundError(f"Cannot connect to {origin_of(url)}: {connection_failure_reason(exc)}.") from exc
    except httpx.HTTPError as exc:
        raise OutboundError(f"HTTP error talking to {origin_of(url)}: {type(exc).__name__}.") from exc


async def _send(
    method: str,
    url: str,
    timeout_seconds: float,
    headers: dict[str, str] | None,
    params: dict[str, Any] | None,
    json_body: Any,
    max_response_bytes: int,
    started: float,
) -> FetchedResponse:
    client = shared_client()
    request_timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
    for _ in range(MAX_REDIRECTS + 1):
        await egress_check(url)
        request = client.build_request(
            method, url, headers=headers, params=params, json=json_body, timeout=request_timeout
        )
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(str(response.url), response.headers["location"])
                params = None
                if response.status_code in (301, 302, 303) and method.upper() != "HEAD":
                    method, json_body = "GET", None
                continue
            content, truncated = await _read_capped(response, max_response_bytes)
        finally:
            await response.aclose()
        return FetchedResponse(
            status_code=response.status_code,
            headers=response.headers,
            content=content,
            truncated=truncated,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            url=str(response.url),
        )
    raise OutboundError(f"Too many redirects from {origin_of(url)}.", code="too_many_redirects")


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL: enough to say where, never its path, query or credentials."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def connection_failure_reason(exc: BaseException) -> str:
    """Why a connection failed, in words, from the chain of causes (whichever HTTP library raised it)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "connection refused" in str(cause).lower():
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    return "connection failed"
