"""What the LLM sees of a thread: the system prompt, a running summary of older turns, and the latest turns
that fit in `MEMORY_CONTEXT_TOKENS`.

Tokens are estimated as characters / 4 (plus a little per message): cheap, dependency-free, and close
enough for a budget. Turns are kept whole (a user message with the assistant and tool messages that follow
it), newest first, and the current turn always. Turns that no longer fit are folded by the LLM into the
thread's `ThreadSummary`, which stands in for them from then on (`covers_until`).

`context_plan` is synchronous and makes no LLM call: the engine and `/api/memory/{user_id}/context` share
it, so the endpoint shows what the engine sends. `context_build` (async, in the engine) adds the summary
update when turns were dropped.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings

from threads.models import Message, ThreadSummary

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
# What a vision model charges for one image (gpt-4o, a 1024x1024 picture in high detail).
IMAGE_TOKENS = 765
# When turns must be dropped, this share of the budget is kept free for the summary that replaces them.
SUMMARY_BUDGET_SHARE = 0.25
SUMMARY_MESSAGE_MAX_CHARS = 2_000
SUMMARY_INPUT_MAX_CHARS = 48_000

DEFAULT_SYSTEM_PROMPT = (
    "You are the assistant of Orchestrator Studio. Answer the user's request. When a function offered to "
    "you (a tool, an external agent or a datasource) can help, call it, several at once when they are "
    "independent, and base your answer on what they return. If a call fails, say so plainly and answer "
    "as well as you can without it. Be concise."
)
SUMMARY_SYSTEM_PROMPT = (
    "You maintain the running summary of a conversation between a user and an assistant, so the assistant "
    "can continue it without the full transcript. Fold the new messages into the summary so far. Keep "
    "facts, names, numbers, decisions, results of tool calls and open questions; drop small talk. Write "
    "plain prose, at most {words} words. Answer with the summary only."
)
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"
CONTEXT_DATA_PREFIX = "Context provided with this request (JSON):\n"
# Keys of a run's `parameters` that steer the LLM call itself rather than inform the model.
LLM_PARAMETER_KEYS = ("system_prompt", "temperature", "max_tokens")


def tokens_estimate(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def content_tokens(content: str | list[dict[str, Any]] | None) -> int:
    """A string, or content parts: their text, and a fixed estimate per image."""
    if not isinstance(content, list):
        return tokens_estimate(content or "")
    return sum(
        tokens_estimate(part.get("text") or "") if part.get("type") == "text" else IMAGE_TOKENS
        for part in content
    )


def message_tokens(message: dict[str, Any]) -> int:
    tokens = MESSAGE_OVERHEAD_TOKENS + content_tokens(message.get("content"))
    if message.get("tool_calls"):
        tokens += tokens_estimate(json.dumps(message["tool_calls"]))
    return tokens


def system_prompt(options: dict[str, Any]) -> str:
    parameters = options.get("parameters") or {}
    prompt = parameters.get("system_prompt") if isinstance(parameters, dict) else None
    return prompt if isinstance(prompt, str) and prompt.strip() else DEFAULT_SYSTEM_PROMPT


def context_note(options: dict[str, Any]) -> str | None:
    """The run's `context_data` and informative `parameters`, as a system message (None when empty)."""
    parameters = options.get("parameters") or {}
    extra: dict[str, Any] = {}
    if options.get("context_data"):
        extra["context_data"] = options["context_data"]
    if isinstance(parameters, dict):
        informative = {k: v for k, v in parameters.items() if k not in LLM_PARAMETER_KEYS}
        if informative:
            extra["parameters"] = informative
    return CONTEXT_DATA_PREFIX + json.dumps(extra, default=str) if extra else None


def message_for_llm(message: Message) -> dict[str, Any]:
    if message.role == Message.Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == Message.Role.ASSISTANT and message.tool_calls:
        return {"role": "assistant", "content": message.content or None, "tool_calls": message.tool_calls}
    return {"role": message.role, "content": message.parts or message.content}


@dataclass
class Turn:
    rows: list[Message]
    messages: list[dict[str, Any]]

    @property
    def tokens(self) -> int:
        return sum(message_tokens(m) for m in self.messages)


def _well_formed(rows: list[Message]) -> list[tuple[Message, dict[str, Any]]]:
    """The messages OpenAI accepts in order: an assistant's tool calls only when every one of them has its
    tool answer right after (a cancelled run can leave them unanswered), and no stray tool answers."""
    kept: list[tuple[Message, dict[str, Any]]] = []
    index = 0
    while index < len(rows):
        row = rows[index]
        if row.role == Message.Role.TOOL:
            index += 1
            continue
        message = message_for_llm(row)
        if row.role != Message.Role.ASSISTANT or not row.tool_calls:
            kept.append((row, message))
            index += 1
            continue
        answers: list[Message] = []
        index += 1
        while index < len(rows) and rows[index].role == Message.Role.TOOL:
            answers.append(rows[index])
            index += 1
        call_ids = {call.get("id") for call in row.tool_calls}
        if call_ids == {answer.tool_call_id for answer in answers}:
            kept.append((row, message))
            kept.extend((answer, message_for_llm(answer)) for answer in answers)
        elif row.content:
            kept.append((row, {"role": "assistant", "content": row.content}))
    return kept


def _turns(pairs: list[tuple[Message, dict[str, Any]]]) -> list[Turn]:
    turns: list[Turn] = []
    for row, message in pairs:
        if row.role == Message.Role.USER or not turns:
            turns.append(Turn(rows=[], messages=[]))
        turns[-1].rows.append(row)
        turns[-1].messages.append(message)
    return turns


@dataclass
class ContextPlan:
    system: str
    note: str | None
    summary: str
    turns: list[Turn]
    dropped: list[Turn] = field(default_factory=list)
    budget_tokens: int = 0
    summary_budget_tokens: int = 0

    @property
    def trimmed(self) -> bool:
        return bool(self.dropped)

    @property
    def dropped_until(self) -> datetime | None:
        return self.dropped[-1].rows[-1].created_at if self.dropped else None

    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system}]
        if self.summary:
            messages.append({"role": "system", "content": SUMMARY_PREFIX + self.summary})
        if self.note:
            messages.append({"role": "system", "content": self.note})
        for turn in self.turns:
            messages.extend(turn.messages)
        return messages

    @property
    def estimated_tokens(self) -> int:
        return sum(message_tokens(m) for m in self.messages())

    @property
    def kept_messages(self) -> int:
        return sum(len(turn.messages) for turn in self.turns)

    @property
    def dropped_messages(self) -> int:
        return sum(len(turn.messages) for turn in self.dropped)


def context_plan(
    *,
    thread_id: UUID,
    options: dict[str, Any],
    use_memory: bool = True,
    current_run_id: UUID | None = None,
    new_thread_messages: list[Message] | None = None,
) -> ContextPlan:
    """The context of the thread's next LLM call, from stored messages; no LLM call is made.

    With `use_memory` false only the messages of `current_run_id` are sent (this turn alone).
    `new_thread_messages`: every message of a thread created with this run (it has no summary): nothing
    is read from the store.
    """
    budget = settings.MEMORY_CONTEXT_TOKENS
    plan = ContextPlan(system=system_prompt(options), note=context_note(options), summary="", turns=[])
    plan.budget_tokens = budget
    if new_thread_messages is not None:
        known = [m for m in new_thread_messages if use_memory or m.run_id == current_run_id]
        turns = _turns(_well_formed(known))
    else:
        rows = Message.objects.filter(thread_id=thread_id).order_by("created_at", "id")
        if not use_memory:
            this_turn = rows.filter(run_id=current_run_id) if current_run_id is not None else rows.none()
            plan.turns = _turns(_well_formed(list(this_turn)))
            return plan
        summary = ThreadSummary.objects.filter(thread_id=thread_id).first()
        if summary is not None:
            plan.summary = summary.content
            rows = rows.filter(created_at__gt=summary.covers_until)
        turns = _turns(_well_formed(list(rows)))
    fixed = sum(message_tokens({"content": text}) for text in (plan.system, plan.note or "", plan.summary))
    if fixed + sum(turn.tokens for turn in turns) <= budget:
        plan.turns = turns
        return plan
    # Something must go: the summary (new or grown) gets its share, the newest turns the rest.
    plan.summary_budget_tokens = max(64, int(budget * SUMMARY_BUDGET_SHARE))
    available = budget - fixed + tokens_estimate(plan.summary) - plan.summary_budget_tokens
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        if kept and used + turn.tokens > available:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    plan.turns = kept
    plan.dropped = turns[: len(turns) - len(kept)]
    return plan


def _transcript(turns: list[Turn]) -> str:
    lines = []
    for turn in turns:
        for row in turn.rows:
            text = row.content or ""
            if row.role == Message.Role.ASSISTANT and row.tool_calls:
                names = ", ".join(call.get("function", {}).get("name", "?") for call in row.tool_calls)
                text = (text + "\n" if text else "") + f"[called {names}]"
            if len(text) > SUMMARY_MESSAGE_MAX_CHARS:
                text = text[:SUMMARY_MESSAGE_MAX_CHARS] + " [...]"
            label = f"tool {row.name}" if row.role == Message.Role.TOOL and row.name else row.role
            lines.append(f"{label}: {text}")
    transcript = "\n".join(lines)
    # The newest part matters most; what does not fit is already dropped from the raw context anyway.
    return transcript[-SUMMARY_INPUT_MAX_CHARS:]


def summary_request(plan: ContextPlan) -> list[dict[str, Any]]:
    words = max(30, plan.summary_budget_tokens * 3 // 4)
    return [
        {"role": "system", "content": SUMMARY_SYSTEM_PROMPT.format(words=words)},
        {
            "role": "user",
            "content": f"Summary so far:\n{plan.summary or '(none)'}\n\n"
            f"New messages:\n{_transcript(plan.dropped)}",
        },
    ]


def summary_store(*, thread_id: UUID, content: str, covers_until: datetime) -> None:
    ThreadSummary.objects.update_or_create(
        thread_id=thread_id, defaults={"content": content, "covers_until": covers_until}
    )


async def summary_update(plan: ContextPlan, *, thread_id: UUID, summarize) -> bool:
    """Fold the plan's dropped turns into the thread's summary with `summarize(messages) -> str` (an LLM
    call); on success the plan carries the new summary. A failure keeps the old one: the dropped turns
    are still left out this time and summarised on a later run."""
    try:
        content = (await summarize(summary_request(plan))).strip()
    except Exception as exc:
        reason = getattr(exc, "message", type(exc).__name__)
        logger.warning("Summarising thread %s failed: %s", thread_id, reason)
        return False
    if not content:
        return False
    content = content[: plan.summary_budget_tokens * CHARS_PER_TOKEN]
    until = plan.dropped_until
    if until is None:
        return False
    await sync_to_async(summary_store)(thread_id=thread_id, content=content, covers_until=until)
    plan.summary = content
    return True
