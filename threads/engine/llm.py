"""One LLM turn, streamed: text deltas go out as they come, tool calls are assembled from their deltas, and
the provider's usage is read from the final chunk (`stream_options.include_usage`).

Every failure talking to the LLM becomes `LLMFailure(code, message)`; the message is built by the
connector from facts only (status, error type, origin), never from the SDK's text, which can quote a key.
"""

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx2  # the HTTP library of the openai SDK: its errors while a stream is read
import openai
import orjson
from openai.types.chat import ChatCompletionMessageParam

from registry.connectors.llm import LLMEgressRefused, LLMUnavailable, llm_error_message
from registry.models import LLMConfig
from threads.engine.events import Usage, usage_zero


class LLMFailure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ToolCallRequest:
    id: str
    name: str
    arguments_json: str

    def as_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


@dataclass
class LLMTurn:
    content: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=usage_zero)
    finish_reason: str | None = None


def llm_failure(exc: BaseException, config: LLMConfig) -> LLMFailure:
    """The run's error for an exception raised talking to the LLM: a stable code and a safe message."""
    if isinstance(exc, LLMUnavailable):
        code = "llm_unavailable"
    elif isinstance(exc, LLMEgressRefused):
        code = "llm_egress_refused"
    elif isinstance(exc, openai.APITimeoutError | TimeoutError):
        code = "llm_timeout"
    elif isinstance(exc, openai.APIConnectionError):
        code = "llm_unreachable"
    elif isinstance(exc, openai.APIStatusError):
        if exc.status_code in (401, 403):
            code = "llm_auth_failed"
        elif exc.status_code == 429:
            code = "llm_rate_limited"
        elif exc.status_code >= 500:
            code = "llm_server_error"
        else:
            code = "llm_request_refused"
    else:
        code = "llm_error"
    return LLMFailure(code, llm_error_message(exc, config))


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        raw = {key: getattr(raw, key, 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    total = int(raw.get("total_tokens") or 0) or prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


CHAT_COMPLETIONS_PATH = "/chat/completions"
JSON_CONTENT = {"Content-Type": "application/json"}


def _event_data(block: bytes) -> bytes | None:
    lines = [
        line[6:] if line.startswith(b"data: ") else line[5:]
        for line in block.split(b"\n")
        if line.startswith(b"data:")
    ]
    return b"\n".join(lines) if lines else None


def _line_ends_normalised(buffer: bytearray) -> bytearray:
    """`\r\n` and `\r` as `\n` (a `\r` at the very end waits: its `\n` may be in the next piece)."""
    if b"\r" not in buffer:
        return buffer
    held = b"\r" if buffer.endswith(b"\r") else b""
    body = bytes(buffer[: len(buffer) - len(held)]).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return bytearray(body + held)


async def sse_data(raw: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The `data` of each server-sent event in the byte stream `raw` (the text/event-stream format: `data:`
    lines, joined, end at a blank line; comments and other fields ignored), up to OpenAI's `[DONE]`."""
    buffer = bytearray()
    async for piece in raw:
        buffer = _line_ends_normalised(buffer + piece)
        start = 0
        while (end := buffer.find(b"\n\n", start)) >= 0:
            data = _event_data(bytes(buffer[start:end]))
            start = end + 2
            if data is not None:
                if data.startswith(b"[DONE]"):
                    return
                yield data
        del buffer[:start]
    # An event the stream ended without its blank line.
    data = _event_data(bytes(_line_ends_normalised(buffer)).rstrip(b"\r"))
    if data is not None and not data.startswith(b"[DONE]"):
        yield data


async def _chunks(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a streamed completion, parsed as plain dicts (no model object per chunk). An
    error sent in the stream, or a connection that fails mid-way, raises the SDK's error for it."""
    request = response.request
    try:
        async for data in sse_data(response.aiter_bytes()):
            chunk = orjson.loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise openai.APIError(
                    message if isinstance(message, str) and message else "An error occurred during streaming",
                    request=request,
                    body=error,
                )
            if isinstance(chunk, dict):
                yield chunk
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=request) from exc
    except httpx2.TransportError as exc:
        raise openai.APIConnectionError(request=request) from exc


async def _stream_open(client: openai.AsyncOpenAI, request: dict[str, Any]) -> httpx2.Response:
    """POST a streamed completion through the SDK's client (its retries, timeouts, status errors and
    guarded transport) with the body encoded here (orjson, no typed request params built) and the response
    left unread, to be parsed by `_chunks`. (`cast_to=httpx2.Response`: the SDK hands back the response.)"""
    response = await client.post(
        CHAT_COMPLETIONS_PATH,
        cast_to=httpx2.Response,
        content=orjson.dumps(request),
        options={"headers": JSON_CONTENT},
        stream=True,
        stream_cls=openai.AsyncStream[Any],
    )
    return cast(httpx2.Response, response)


async def llm_turn_stream(
    *,
    client: openai.AsyncOpenAI,
    config: LLMConfig,
    options: dict[str, Any],
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    on_delta: Callable[[str], Awaitable[None]],
    on_first_token: Callable[[], None],
) -> LLMTurn:
    """Stream one completion. Raises `LLMFailure` for anything the LLM or the way to it did wrong.

    The SDK's client sends the request (its retries, errors and guarded transport) with a body encoded by
    orjson; the stream itself is read as raw server-sent events and parsed with orjson, which costs a
    fraction of the SDK's typed request params and model object per chunk."""
    turn = LLMTurn()
    parts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    first_token_seen = False
    request: dict[str, Any] = {
        **options,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        request["tools"] = tools
    try:
        response = await _stream_open(client, request)
        # Leaving the block (also by cancellation) closes the HTTP response: the call is abandoned.
        async with contextlib.aclosing(response):
            async for chunk in _chunks(response):
                if chunk.get("usage"):
                    turn.usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    call_deltas = delta.get("tool_calls")
                    if (content or call_deltas) and not first_token_seen:
                        first_token_seen = True
                        on_first_token()
                    if content:
                        parts.append(content)
                        await on_delta(content)
                    for call_delta in call_deltas or ():
                        _tool_call_merge(calls, call_delta)
                    if choice.get("finish_reason"):
                        turn.finish_reason = choice["finish_reason"]
    except (openai.OpenAIError, ValueError) as exc:
        # ValueError: a chunk that is not JSON (a malformed stream).
        raise llm_failure(exc, config) from None
    turn.content = "".join(parts)
    turn.tool_calls = [
        ToolCallRequest(
            id=call["id"] or f"call_{uuid.uuid4().hex[:24]}",
            name=call["name"],
            arguments_json=call["arguments"] or "{}",
        )
        for _, call in sorted(calls.items())
        if call["name"]
    ]
    return turn


def _tool_call_merge(calls: dict[int, dict[str, Any]], call_delta: dict[str, Any]) -> None:
    index = call_delta.get("index")
    call = calls.setdefault(
        index if isinstance(index, int) else len(calls), {"id": "", "name": "", "arguments": ""}
    )
    if call_delta.get("id"):
        call["id"] = call_delta["id"]
    function = call_delta.get("function") or {}
    # Servers send the name once; a few repeat it in every delta, so only the first one counts.
    if function.get("name") and not call["name"]:
        call["name"] = function["name"]
    if function.get("arguments"):
        call["arguments"] += function["arguments"]


def tool_arguments(call: ToolCallRequest) -> tuple[dict[str, Any] | None, str | None]:
    """The call's arguments as an object, or the reason they are unusable (the LLM gets to see it)."""
    try:
        arguments = json.loads(call.arguments_json) if call.arguments_json.strip() else {}
    except ValueError:
        return None, f"The arguments of {call.name} were not valid JSON."
    if not isinstance(arguments, dict):
        return None, f"The arguments of {call.name} must be a JSON object."
    return arguments, None


async def llm_complete_text(
    *, client: openai.AsyncOpenAI, config: LLMConfig, options: dict[str, Any], messages: list[dict[str, Any]]
) -> tuple[str, Usage]:
    """One non-streamed completion (used for summaries)."""
    try:
        # The messages are built from stored rows as plain dicts in the Chat Completions shape.
        chat = cast(list[ChatCompletionMessageParam], messages)
        completion = await client.chat.completions.create(**options, messages=chat)
    except openai.OpenAIError as exc:
        raise llm_failure(exc, config) from None
    content = completion.choices[0].message.content if completion.choices else None
    return content or "", _usage(completion.usage)
