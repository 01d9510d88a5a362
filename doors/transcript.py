"""What a door tells its client about a run, folded from the run's events as they come.

The answer is the text the assistant said during the run: the concatenation of its `message.delta`s, which
equals the concatenation of its `message.completed` contents (live and on replay). The tool calls are the
functions the orchestrator ran, for the client to see, never to run again.
"""

from dataclasses import dataclass, field
from typing import Any

from threads.engine.events import (
    MESSAGE_COMPLETED,
    MESSAGE_DELTA,
    RUN_CANCELLED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_IN_PROGRESS,
    TOOL_CALL_COMPLETED,
    TOOL_CALL_STARTED,
    Event,
    usage_zero,
)

STATUS_OF_TERMINAL = {RUN_COMPLETED: "completed", RUN_FAILED: "failed", RUN_CANCELLED: "cancelled"}
# A run retried from the start after its executor died: what it had said so far is superseded.
RUN_RETRYING = "run.retrying"


@dataclass
class RunTranscript:
    thread_id: str
    run_id: str
    status: str = "queued"
    messages: list[str] = field(default_factory=list)
    pending: str = ""
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=usage_zero)  # type: ignore[arg-type]
    error: dict[str, Any] | None = None
    step_limit_reached: bool = False

    def add(self, event: Event) -> None:
        kind = event.get("type")
        if kind == MESSAGE_DELTA:
            self.pending += event.get("delta", "")
        elif kind == MESSAGE_COMPLETED:
            self.messages.append(event.get("content") or "")
            self.pending = ""
        elif kind == TOOL_CALL_STARTED:
            self.calls[event["tool_call_id"]] = {
                "name": event.get("name"),
                "arguments": event.get("arguments"),
                "ok": None,
                "output": None,
            }
        elif kind == TOOL_CALL_COMPLETED:
            blank = {"name": event.get("name"), "arguments": None}
            call = self.calls.setdefault(event["tool_call_id"], blank)
            call.update(ok=event.get("ok"), output=event.get("output"))
            if event.get("error"):
                call["error"] = event["error"]
        elif kind == RUN_RETRYING:
            self.messages, self.pending, self.calls = [], "", {}
        elif kind in STATUS_OF_TERMINAL:
            self.status = STATUS_OF_TERMINAL[kind]
            self.usage = {**usage_zero(), **(event.get("usage") or {})}
            self.error = event.get("error")
            self.step_limit_reached = bool(event.get("step_limit_reached"))
        elif kind == RUN_IN_PROGRESS:
            self.status = "in_progress"

    @property
    def answer(self) -> str:
        """Everything the assistant said, including the unfinished text of a cancelled or failed run."""
        return "".join(self.messages) + self.pending

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return list(self.calls.values())

    @property
    def finished(self) -> bool:
        return self.status in STATUS_OF_TERMINAL.values()

    def token_usage(self) -> dict[str, int]:
        keys = ("prompt_tokens", "completion_tokens", "total_tokens")
        return {key: int(self.usage.get(key) or 0) for key in keys}

    def summary(self) -> dict[str, Any]:
        """The `orchestrator` extra field (and the MCP `ask` tool's structured content)."""
        return {
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "status": self.status,
            "tool_calls": self.tool_calls,
        }
