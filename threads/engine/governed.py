"""Governance inside a run: one LLM turn through the response cache and its trace span, what the run's
turns cost, and the token budget a run may not go over.

The engine calls `llm_turn` where it would stream a turn; everything else here is bookkeeping on plain
values. Nothing here waits on anything but the cache (in a thread) and the LLM.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import openai

from orchestrator_studio.tracing import trace_llm_turn
from registry.connectors.llm_cache import CachedAnswer, cache_enabled, cache_lookup, cache_store
from registry.models import LLMConfig
from registry.pricing import cost_as_number, usage_cost
from threads.engine.events import Usage
from threads.engine.llm import LLMTurn, ToolCallRequest, llm_turn_stream

# Turns that ended as the model meant them to (not cut by an error): the only ones worth keeping.
CACHEABLE_FINISH_REASONS = frozenset({"stop", "tool_calls", "length"})


@dataclass
class RunSpend:
    """What a run's LLM turns used and cost: the cost stays unknown (None) once one turn is unpriced."""

    cost: Decimal | None = Decimal(0)
    turns: int = 0
    cached_turns: int = 0

    def add(self, config: LLMConfig, usage: Usage, *, cached: bool) -> None:
        self.turns += 1
        self.cached_turns += int(cached)
        cost = usage_cost(config, {**usage, "cached": cached})
        self.cost = None if cost is None or self.cost is None else self.cost + cost

    def usage_fields(self) -> dict[str, Any]:
        """The run's `usage` keys beside the token counts: `cost_usd`, and `cached` (every turn was)."""
        return {
            "cost_usd": cost_as_number(self.cost),
            "cached": self.turns > 0 and self.cached_turns == self.turns,
        }


def _usage_of(raw: dict[str, Any]) -> Usage:
    prompt, completion = int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(raw.get("total_tokens") or 0) or prompt + completion,
    }


async def _replay(
    answer: CachedAnswer, on_delta: Callable[[str], Awaitable[None]], on_first_token: Callable[[], None]
) -> LLMTurn:
    """A cached answer streamed like a live one: its deltas as they came, then the same turn."""
    on_first_token()
    for delta in answer.deltas:
        await on_delta(delta)
    calls = [
        # New ids: the ones of the cached turn may already be in this thread's history.
        ToolCallRequest(
            id=f"call_{uuid.uuid4().hex[:24]}",
            name=call["function"]["name"],
            arguments_json=call["function"]["arguments"],
        )
        for call in answer.tool_calls
    ]
    return LLMTurn(
        content=answer.content,
        tool_calls=calls,
        usage=_usage_of(answer.usage),
        finish_reason=answer.finish_reason,
    )


async def llm_turn(
    *,
    client: openai.AsyncOpenAI,
    config: LLMConfig,
    options: dict[str, Any],
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    on_delta: Callable[[str], Awaitable[None]],
    on_first_token: Callable[[], None],
    on_cache_lookup: Callable[[bool], None],
) -> tuple[LLMTurn, bool]:
    """One LLM turn: from the response cache when the config has one and holds this request, else
    streamed from the LLM (and kept for the next identical request). Returns the turn and whether it came
    from the cache. Traced as the client span `chat <model>`."""
    request = {**options, "messages": messages, "tools": tools}
    with trace_llm_turn(base_url=config.base_url, request=request) as span:

        def first_token() -> None:
            span.first_chunk()
            on_first_token()

        answer = None
        if cache_enabled(config):
            answer = await cache_lookup(config, request)
            on_cache_lookup(answer is not None)
        if answer is not None:
            turn = await _replay(answer, on_delta, first_token)
        else:
            deltas: list[str] = []

            async def delta(text: str) -> None:
                deltas.append(text)
                await on_delta(text)

            turn = await llm_turn_stream(
                client=client,
                config=config,
                options=options,
                messages=messages,
                tools=tools,
                on_delta=delta,
                on_first_token=first_token,
            )
            if cache_enabled(config) and turn.finish_reason in CACHEABLE_FINISH_REASONS:
                stored = CachedAnswer(
                    deltas=deltas,
                    tool_calls=[call.as_openai() for call in turn.tool_calls],
                    finish_reason=turn.finish_reason,
                    usage={
                        key: turn.usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens")
                    },
                )
                await cache_store(config, request, stored)
        span.llm_finished(
            usage=turn.usage,
            finish_reason=turn.finish_reason,
            cached=answer is not None,
            content=turn.content,
            tool_calls=[call.as_openai() for call in turn.tool_calls],
        )
    return turn, answer is not None
