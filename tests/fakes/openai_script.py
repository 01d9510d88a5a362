"""The steps a test scripts the fake OpenAI server with (see tests/fakes/openai_server.py)."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

_BROKEN_JSON = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index'

# Default (type, code, message) of an error body, as OpenAI answers these statuses.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


@dataclass(frozen=True, kw_only=True)
class Step:
    """One scripted answer; `times` answers that many requests in a row."""

    times: int = 1


@dataclass(frozen=True, kw_only=True)
class Text(Step):
    content: str
    chunks: int | None = None
    ttft: float | None = None
    chunk_delay: float | None = None
    finish_reason: str = "stop"
    usage: Mapping[str, int] | None = None
    hang_after: int | None = None
    fail_after: int | None = None


@dataclass(frozen=True, kw_only=True)
class Call:
    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolCalls(Step):
    calls: tuple[Call, ...]
    content: str | None = None
    chunks: int = 3
    ttft: float | None = None
    chunk_delay: float | None = None
    usage: Mapping[str, int] | None = None


@dataclass(frozen=True, kw_only=True)
class HTTPError(Step):
    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True, kw_only=True)
class Malformed(Step):
    body: bytes
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True, kw_only=True)
class Hang(Step):
    pass


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be at least 1")


def text(
    content: str,
    *,
    chunks: int | None = None,
    ttft: float | None = None,
    chunk_delay: float | None = None,
    finish_reason: str = "stop",
    usage: Mapping[str, int] | None = None,
    hang_after: int | None = None,
    fail_after: int | None = None,
    times: int = 1,
) -> Text:
    """A text answer in `chunks` content deltas (default: the server's `chunks`; at most one per character).

    `ttft` / `chunk_delay` (seconds) override the server's delays; `hang_after=n` stalls the stream after n
    content deltas and `fail_after=n` sends an error event after n deltas and ends the stream.
    """
    _positive("chunks", chunks)
    _positive("times", times)
    if hang_after is not None and fail_after is not None:
        raise ValueError("a stream either hangs or fails: give hang_after or fail_after")
    if min(hang_after or 0, fail_after or 0) < 0:
        raise ValueError("hang_after and fail_after count content deltas: 0 or more")
    return Text(
        content=content,
        chunks=chunks,
        ttft=ttft,
        chunk_delay=chunk_delay,
        finish_reason=finish_reason,
        usage=usage,
        hang_after=hang_after,
        fail_after=fail_after,
        times=times,
    )


def call(name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None) -> Call:
    """One function call; a mapping is sent as compact JSON, a string as is (so it may be invalid JSON)."""
    if not isinstance(arguments, str):
        arguments = json.dumps(dict(arguments or {}), separators=(",", ":"))
    return Call(name=name, arguments=arguments, id=id)


def tool_calls(
    *calls: Call,
    content: str | None = None,
    chunks: int = 3,
    ttft: float | None = None,
    chunk_delay: float | None = None,
    usage: Mapping[str, int] | None = None,
    times: int = 1,
) -> ToolCalls:
    """Parallel tool calls in one turn; each call's arguments are split over `chunks` deltas."""
    if not calls:
        raise ValueError("tool_calls() needs at least one call()")
    _positive("chunks", chunks)
    _positive("times", times)
    return ToolCalls(
        calls=calls,
        content=content,
        chunks=chunks,
        ttft=ttft,
        chunk_delay=chunk_delay,
        usage=usage,
        times=times,
    )


def tool_call(
    name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None, **options: Any
) -> ToolCalls:
    """A turn with a single tool call; `options` as for `tool_calls`."""
    return tool_calls(call(name, arguments, id=id), **options)


def error(
    status: int = 500,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    times: int = 1,
) -> HTTPError:
    """An HTTP error with OpenAI's error body; type, code and message default to what OpenAI sends."""
    if not 400 <= status <= 599:
        raise ValueError("an error status is between 400 and 599")
    _positive("times", times)
    default_type, default_code, default_message = _ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, HTTPStatus(status).phrase),
    )
    return HTTPError(
        status=status,
        message=message or default_message,
        type=type or default_type,
        code=code if code is not None else default_code,
        param=param,
        headers=dict(headers or {}),
        times=times,
    )


def malformed(
    body: bytes = _BROKEN_JSON, *, status: int = 200, content_type: str = "application/json", times: int = 1
) -> Malformed:
    """A body the client cannot parse; a streamed request gets it as one SSE event, without `[DONE]`."""
    _positive("times", times)
    return Malformed(body=body, status=status, content_type=content_type, times=times)


def hang(*, times: int = 1) -> Hang:
    """No answer at all (not even headers) until the client gives up or the fake is reset."""
    _positive("times", times)
    return Hang(times=times)
