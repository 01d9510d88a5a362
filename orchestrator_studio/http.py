"""The one outbound HTTP stack of the product: every request to the outside world goes through one guard,
whichever library or SDK sends it.

The guard, on every hop (redirects included):
- the egress guard (`egress_check`) before connecting: a refused target is never contacted;
- a redirect to another origin is refused before it is followed (`RedirectRefused`), so a credential (an
  `Authorization` or API-key header, a key in the query or the body) never reaches a host it was not meant
  for. A redirect within the origin (or from `http` to `https` on the same host) is followed.

What to use:
- a connector: `http_request(...)` (timeouts, capped reads, `OutboundError` for what went wrong);
- an SDK built on `httpx` that takes a client (a2a-sdk): `guarded_async_client(timeout=...)`;
- an SDK built on `httpx2` (the openai SDK, mcp): `guarded_async_client_httpx2(timeout=...)`;
- an SDK that insists on a synchronous `httpx.Client` (Composio): `guarded_sync_client(timeout=...)`.
Each takes `timeout` (seconds; connecting gets at most 10 of them) and `headers` (sent with every request,
the caller's credentials included); set `client.event_hooks` for more. Close the client when done.
A refusal raises `EgressRefused` (or its subclass `RedirectRefused`, both `DomainError`s) from inside the
SDK's call. An SDK that wraps or retries what its transport raises can be given `raise_as`, which turns the
refusal into an exception that SDK passes on as it is (the openai SDK: an `OpenAIError`).
"""

import asyncio
import json
import socket
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
import httpx2  # the fork of httpx the openai and mcp SDKs are built on

from orchestrator_studio import __version__
from orchestrator_studio.egress import EgressRefused, egress_check, egress_check_sync
from orchestrator_studio.errors import DomainError
from orchestrator_studio.timing import elapsed_ms
from orchestrator_studio.tracing import trace_headers

MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024
USER_AGENT = f"OrchestratorStudio/{__version__}"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_CONNECT_SECONDS = 10.0
MAX_CONNECTIONS = 200
MAX_KEEPALIVE_CONNECTIONS = 50

RaiseAs = Callable[[EgressRefused], BaseException]
LimitsT = TypeVar("LimitsT")

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


class OutboundError(DomainError):
    """The outside system could not be reached or did not answer in time."""

    status_code = 502
    code = "upstream_error"


class RedirectRefused(EgressRefused):
    """A redirect that was not followed: nothing was sent to its target."""

    code = "redirect_refused"


# --- the guard ------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def same_origin(url: str, target: str) -> bool:
    """Whether `target` belongs to the party `url` does: the same scheme, host and port, or the upgrade
    of `http` to `https` on the same host (default ports)."""
    source, destination = _origin(url), _origin(target)
    return source == destination or (
        source == ("http", destination[1], 80) and destination[::2] == ("https", 443)
    )


def redirect_target(url: str, status_code: int, headers: Mapping[str, str]) -> str | None:
    """The absolute URL a response redirects to, or None when it is no redirect."""
    location = headers.get("location")
    if status_code not in REDIRECT_STATUSES or not location:
        return None
    return urljoin(url, location)


def _cross_origin_redirect(url: str, status_code: int, headers: Mapping[str, str]) -> RedirectRefused | None:
    target = redirect_target(url, status_code, headers)
    if target is None or same_origin(url, target):
        return None
    return RedirectRefused(
        f"Refused to follow a redirect from {origin_of(url)} to another origin ({origin_of(target)}): "
        "credentials are never sent across origins."
    )


def _limits(limits: Callable[..., LimitsT]) -> LimitsT:
    return limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS)


class _AsyncGuard:
    """The guard around an async transport; the same for `httpx` and `httpx2` (their transports differ in
    type only)."""

    def __init__(self, inner: Any, raise_as: RaiseAs | None) -> None:
        self._inner = inner
        self._raise_as = raise_as

    async def handle_async_request(self, request: Any) -> Any:
        url = str(request.url)
        try:
            await egress_check(url)
            response = await self._inner.handle_async_request(request)
            refusal = _cross_origin_redirect(url, response.status_code, response.headers)
            if refusal is not None:
                await response.aclose()
                raise refusal
        except EgressRefused as exc:
            raise (self._raise_as(exc) if self._raise_as else exc) from None
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedAsyncTransport(_AsyncGuard, httpx.AsyncBaseTransport):
    """The guard as an `httpx` async transport."""

    def __init__(self, *, raise_as: RaiseAs | None = None) -> None:
        super().__init__(httpx.AsyncHTTPTransport(limits=_limits(httpx.Limits)), raise_as)


class GuardedAsyncTransportHttpx2(_AsyncGuard, httpx2.AsyncBaseTransport):
    """The guard as an `httpx2` async transport (the openai and mcp SDKs)."""

    def __init__(self, *, raise_as: RaiseAs | None = None) -> None:
        super().__init__(httpx2.AsyncHTTPTransport(limits=_limits(httpx2.Limits)), raise_as)


class GuardedSyncTransport(httpx.BaseTransport):
    """The guard as a synchronous `httpx` transport (for an SDK that only takes a sync client)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport(limits=_limits(httpx.Limits))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        egress_check_sync(url)
        response = self._inner.handle_request(request)
        refusal = _cross_origin_redirect(url, response.status_code, response.headers)
        if refusal is not None:
            response.close()
            raise refusal
        return response

    def close(self) -> None:
        self._inner.close()


def _client_options(
    timeout_class: Callable[..., Any], timeout: float, headers: Mapping[str, str] | None
) -> dict[str, Any]:
    """What every guarded client shares: its timeout (connecting within at most 10 s of it), our User-Agent,
    redirects followed (the guard refuses those to another origin) and no proxy settings taken from the
    environment."""
    return {
        "timeout": timeout_class(timeout, connect=min(timeout, MAX_CONNECT_SECONDS)),
        "headers": {"User-Agent": USER_AGENT, **(headers or {})},
        "follow_redirects": True,
        "trust_env": False,
    }


def guarded_async_client(
    *, timeout: float, headers: Mapping[str, str] | None = None, raise_as: RaiseAs | None = None
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose every request goes through the guard (redirects within the origin are
    followed). Close it when done (`async with` or `aclose()`); for SDKs built on httpx (a2a-sdk)."""
    return httpx.AsyncClient(
        transport=GuardedAsyncTransport(raise_as=raise_as), **_client_options(httpx.Timeout, timeout, headers)
    )


def guarded_async_client_httpx2(
    *, timeout: float, headers: Mapping[str, str] | None = None, raise_as: RaiseAs | None = None
) -> httpx2.AsyncClient:
    """The same as an `httpx2.AsyncClient`, for SDKs built on httpx2 (the openai SDK, mcp)."""
    return httpx2.AsyncClient(
        transport=GuardedAsyncTransportHttpx2(raise_as=raise_as),
        **_client_options(httpx2.Timeout, timeout, headers),
    )


def guarded_sync_client(*, timeout: float, headers: Mapping[str, str] | None = None) -> httpx.Client:
    """A synchronous `httpx.Client` through the guard, for an SDK that only takes one (Composio). Blocking:
    never call it on the event loop."""
    return httpx.Client(transport=GuardedSyncTransport(), **_client_options(httpx.Timeout, timeout, headers))


# --- connectors' requests -------------------------------------------------------------------------


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
    """One pooled client per event loop (an AsyncClient cannot be shared across loops); `http_request`
    follows redirects itself, one checked hop at a time."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=GuardedAsyncTransport(),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
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
    redirect_allowed: Callable[[str], bool] | None = None,
) -> FetchedResponse:
    """Send one request (following up to 5 guarded redirects) and read at most `max_response_bytes`.

    `redirect_allowed(target)` narrows the redirects followed further than the guard does (the http tool:
    only under its base URL); a redirect it rejects raises `RedirectRefused` before anything is sent there.
    Raises `EgressRefused` for a refused target, `OutboundError` for connection errors and timeouts. An HTTP
    error status is not an exception: callers decide what a 4xx/5xx means for them.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            return await _send(
                method,
                url,
                timeout_seconds,
                headers,
                params,
                json_body,
                max_response_bytes,
                redirect_allowed,
                started,
            )
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise OutboundError(
            f"No answer from {origin_of(url)} within {timeout_seconds:g}s.", code="upstream_timeout"
        ) from exc
    except httpx.ConnectError as exc:
        raise OutboundError(f"Cannot connect to {origin_of(url)}: {connection_failure_reason(exc)}.") from exc
    except httpx.HTTPError as exc:
        raise OutboundError(f"HTTP error talking to {origin_of(url)}: {type(exc).__name__}.") from exc
    except UnicodeEncodeError:
        # A secret saved before secrets were checked to be header-safe: say so, never with its value.
        raise OutboundError(
            f"A header of the request to {origin_of(url)} holds characters an HTTP header cannot carry: "
            "save the entry's secret again (printable ASCII only).",
            code="invalid_header_value",
        ) from None


async def _send(
    method: str,
    url: str,
    timeout_seconds: float,
    headers: dict[str, str] | None,
    params: dict[str, Any] | None,
    json_body: Any,
    max_response_bytes: int,
    redirect_allowed: Callable[[str], bool] | None,
    started: float,
) -> FetchedResponse:
    client = shared_client()
    request_timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, MAX_CONNECT_SECONDS))
    headers = trace_headers(headers)
    for _ in range(MAX_REDIRECTS + 1):
        request = client.build_request(
            method, url, headers=headers, params=params, json=json_body, timeout=request_timeout
        )
        response = await client.send(request, stream=True)
        try:
            target = redirect_target(str(response.url), response.status_code, response.headers)
            if target is not None:
                if redirect_allowed is not None and not redirect_allowed(target):
                    raise RedirectRefused(
                        f"Refused to follow a redirect from {origin_of(url)} to {origin_of(target)}: "
                        "it leads outside what this connection may call."
                    )
                url, params = target, None
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
            elapsed_ms=elapsed_ms(started),
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
