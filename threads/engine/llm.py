"""One LLM turn, streamed: text deltas go out as they come, tool calls are assembled from their deltas, and
the provider's usage is read from the final chunk (`stream_options.include_usage`).

Every failure talking to the LLM becomes `LLMFailure(code, message)`; the message is built by the
connector from facts only (status, error type, origin), never from the SDK's text, which can quote a key.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import openai
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
    prompt = int(getattr(raw, "prompt_tokens", 0) or 0)
    completion = int(getattr(raw, "completion_tokens", 0) or 0)
    total = int(getattr(raw, "total_tokens", 0) or 0) or prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


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
    """Stream one completion. Raises `LLMFailure` for anything the LLM or the way to it did wrong."""
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
        stream = await client.chat.completions.create(**request)
        # Leaving the block (also by cancellation) closes the HTTP response: the call is abandoned.
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    turn.usage = _usage(chunk.usage)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None and (delta.content or delta.tool_calls) and not first_token_seen:
                        first_token_seen = True
                        on_first_token()
                    if delta is not None and delta.content:
                        parts.append(delta.content)
                        await on_delta(delta.content)
                    for call_delta in (delta.tool_calls if delta is not None else None) or ():
                        _tool_call_merge(calls, call_delta)
                    if choice.finish_reason:
                        turn.finish_reason = choice.finish_reason
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


def _tool_call_merge(calls: dict[int, dict[str, Any]], call_delta: Any) -> None:
    index = call_delta.index if call_delta.index is not None else len(calls)
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if call_delta.id:
        call["id"] = call_delta.id
    function = call_delta.function
    if function is not None:
        # Servers send the name once; a few repeat it in every delta, so only the first one counts.
        if function.name and not call["name"]:
            call["name"] = function.name
        if function.arguments:
            call["arguments"] += function.arguments


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
