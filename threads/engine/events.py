"""The events of a run (API.md, "Events"): their types and the fields each one carries.

Every event is `{"type", "thread_id", "run_id", "seq", "created_at", ...fields}`; `seq` is assigned by the
publisher alone. `context_trimmed` is this project's extension: older turns were summarised to fit the
context budget.
"""

from typing import Any, NotRequired, TypedDict

RUN_CREATED = "run.created"
RUN_IN_PROGRESS = "run.in_progress"
MESSAGE_DELTA = "message.delta"
MESSAGE_COMPLETED = "message.completed"
TOOL_CALL_STARTED = "tool_call.started"
TOOL_CALL_COMPLETED = "tool_call.completed"
TOOL_CALL_PROGRESS = "tool_call.progress"
# A call that waits for a person's decision, and the decision (API.md, "Human approval").
TOOL_CALL_APPROVAL_REQUIRED = "tool_call.approval_required"
TOOL_CALL_APPROVAL_DECIDED = "tool_call.approval_decided"
CONTEXT_TRIMMED = "context_trimmed"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
RUN_CANCELLED = "run.cancelled"
# A run whose executor died before any tool call started is run again (API.md, "Runs: never lost").
RUN_RETRYING = "run.retrying"

TERMINAL_EVENT_TYPES = frozenset({RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED})

Event = dict[str, Any]


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    # At the run's end: what it cost in USD (None: an unpriced model), and whether every LLM turn of it
    # was answered from the response cache.
    cost_usd: NotRequired[float | None]
    cached: NotRequired[bool]


class RunError(TypedDict):
    code: str
    message: str


def usage_zero() -> Usage:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def is_terminal(event: Event) -> bool:
    return event.get("type") in TERMINAL_EVENT_TYPES
