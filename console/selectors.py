"""What the operator pages read: the playground's threads, runs and LLM configs; the dashboard's figures."""

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from monitoring.figures import last_hour_by_minute
from orchestrator_studio.errors import ServiceUnavailable
from registry.models import LLMConfig
from threads.models import Run, Thread
from threads.selectors import run_errors_by_code, runs_by_hour

PLAYGROUND_THREADS = 30
PLAYGROUND_RUNS = 20
WINDOWS = ("hour", "day")


def playground_threads(*, user: User) -> QuerySet[Thread]:
    """The user's own latest threads (the playground chats as the logged-in staff member)."""
    return Thread.objects.filter(owner=user).order_by("-updated_at")[:PLAYGROUND_THREADS]


def playground_llm_configs() -> list[dict[str, Any]]:
    configs = LLMConfig.objects.filter(enabled=True).order_by("-is_default", "name")
    return [{"name": c.name, "model": c.model, "is_default": c.is_default} for c in configs]


def playground_runs(*, thread: Thread) -> list[dict[str, Any]]:
    """The thread's latest runs, oldest first: the page replays their stored events to show them."""
    runs = Run.objects.filter(thread=thread).order_by("-created_at")[:PLAYGROUND_RUNS]
    return [
        {"id": str(run.id), "task": run.task, "status": run.status, "llm_model": run.llm_model}
        for run in reversed(runs)
    ]


def dashboard_figures(*, window: str) -> dict[str, Any]:
    """The charts' data for the last hour (minute by minute, from the metrics window) or the last day (hour
    by hour, from the runs table)."""
    now = timezone.now()
    if window == "hour":
        series = last_hour_by_minute()
        if series is None:
            raise ServiceUnavailable("The metrics store (Redis) cannot be read right now.")
        since = now - timedelta(hours=1)
    else:
        series = runs_by_hour(hours=24)
        since = now - timedelta(hours=24)
    tool_calls: dict[str, dict[str, int]] = {}
    for point in series:
        for kind, outcomes in point.pop("tool_calls", {}).items():
            totals = tool_calls.setdefault(kind, {"ok": 0, "error": 0})
            for outcome, count in outcomes.items():
                totals[outcome] = totals.get(outcome, 0) + count
    return {
        "window": window,
        "generated_at": now.isoformat(),
        "series": series,
        "errors": run_errors_by_code(since=since),
        # Tool calls are counted by the metrics window only: the day view has none.
        "tool_calls": tool_calls if window == "hour" else None,
    }
