"""Reads of threads, runs, events and memory, scoped to what the asking user may see; and the run figures
monitoring and the console show."""

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Length
from django.utils import timezone

from threads.engine.events import TOOL_CALL_COMPLETED, TOOL_CALL_STARTED
from threads.memory import CHARS_PER_TOKEN, context_plan
from threads.models import Message, Run, RunEvent, Thread, ThreadSummary

HISTORY_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)
STARTED_KEYS = ("name", "kind", "arguments")
COMPLETED_KEYS = ("ok", "output", "error", "latency_ms")


def threads_visible_to(user) -> QuerySet[Thread]:
    """Staff see every thread; anyone else only the threads they own."""
    threads = Thread.objects.all()
    return threads if user.is_staff else threads.filter(owner=user)


def runs_visible_to(user) -> QuerySet[Run]:
    runs = Run.objects.select_related("thread", "llm_config")
    return runs if user.is_staff else runs.filter(thread__owner=user)


def run_events_after(*, run_id: UUID | str, after_seq: int) -> list[dict[str, Any]]:
    """The run's stored events after `after_seq`, in `seq` order, as they were sent."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")
    return list(events.values_list("payload", flat=True))


def run_latest(*, thread: Thread) -> Run | None:
    return Run.objects.filter(thread=thread).order_by("-created_at").first()


def tool_calls_in(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool calls that `events` (a run's, in `seq` order) tell: `{"tool_call_id", "name", "kind",
    "arguments", "ok", "output", "error"?, "latency_ms"}`, in the order they started."""
    calls: dict[str, dict[str, Any]] = {}
    for payload in events:
        if payload.get("type") not in (TOOL_CALL_STARTED, TOOL_CALL_COMPLETED):
            continue
        call = calls.setdefault(payload["tool_call_id"], {"tool_call_id": payload["tool_call_id"]})
        keys = STARTED_KEYS if payload["type"] == TOOL_CALL_STARTED else COMPLETED_KEYS
        call.update({key: payload[key] for key in keys if key in payload})
    return list(calls.values())


def run_tool_calls(*, run: Run) -> list[dict[str, Any]]:
    """The run's tool calls as its stored events tell them (see `tool_calls_in`)."""
    events = RunEvent.objects.filter(run=run, type__in=(TOOL_CALL_STARTED, TOOL_CALL_COMPLETED)).order_by(
        "seq"
    )
    return tool_calls_in(events.values_list("payload", flat=True))


def tokens_estimate_chars(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def _user_threads(user, user_id: str) -> QuerySet[Thread]:
    return threads_visible_to(user).filter(user_id=user_id)


def memory_history(*, user, user_id: str, limit: int = 50) -> dict[str, Any]:
    """The latest `limit` user and assistant messages of `user_id`'s threads, oldest first."""
    rows = (
        Message.objects.filter(thread__in=_user_threads(user, user_id), role__in=HISTORY_ROLES)
        .exclude(content="")
        .order_by("-created_at", "-id")
        .values("role", "content", "thread_id", "created_at")[:limit]
    )
    return {"user_id": user_id, "messages": list(reversed(rows))}


def memory_context(*, user, user_id: str) -> dict[str, Any]:
    """`{"user_id", "thread_id", "messages", "estimated_tokens", "budget_tokens", "trimmed"}`: what the engine
    would send the LLM for `user_id`'s latest thread (system prompt, stored summary, latest turns in the
    budget). `messages` is empty when the user has no thread."""
    thread = _user_threads(user, user_id).order_by("-updated_at").first()
    if thread is None:
        return {
            "user_id": user_id,
            "thread_id": None,
            "messages": [],
            "estimated_tokens": 0,
            "budget_tokens": 0,
            "trimmed": False,
        }
    latest = run_latest(thread=thread)
    plan = context_plan(thread_id=thread.id, options=latest.options if latest else {})
    return {
        "user_id": user_id,
        "thread_id": thread.id,
        "messages": plan.messages(),
        "estimated_tokens": plan.estimated_tokens,
        "budget_tokens": plan.budget_tokens,
        "trimmed": plan.trimmed,
    }


def memory_summary(*, user, user_id: str) -> dict[str, Any]:
    """`{"user_id", "summaries": [{"thread_id", "title", "summary", "covers_until", "updated_at"}]}`, the
    running summaries of `user_id`'s threads, most recently updated first."""
    summaries = (
        ThreadSummary.objects.filter(thread__in=_user_threads(user, user_id))
        .select_related("thread")
        .order_by("-updated_at")
    )
    return {
        "user_id": user_id,
        "summaries": [
            {
                "thread_id": summary.thread_id,
                "title": summary.thread.title,
                "summary": summary.content,
                "covers_until": summary.covers_until,
                "updated_at": summary.updated_at,
            }
            for summary in summaries
        ],
    }


def memory_stats(*, user, user_id: str) -> dict[str, Any]:
    """`{"user_id", "message_count", "thread_count", "total_tokens", "usage_tokens", "first_at", "last_at"}`:
    `total_tokens` is the estimated size of the stored messages (as the context budget counts them),
    `usage_tokens` what the LLM turns that wrote them cost (prompt + completion, as the provider reported)."""
    threads = _user_threads(user, user_id)
    figures = Message.objects.filter(thread__in=threads).aggregate(
        message_count=Count("id"),
        content_chars=Sum(Length("content")),
        usage_tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
        first_at=Min("created_at"),
        last_at=Max("created_at"),
    )
    return {
        "user_id": user_id,
        "message_count": figures["message_count"],
        "thread_count": threads.count(),
        "total_tokens": tokens_estimate_chars(figures["content_chars"] or 0),
        "usage_tokens": figures["usage_tokens"] or 0,
        "first_at": figures["first_at"],
        "last_at": figures["last_at"],
    }


def runs_by_status() -> dict[str, Any]:
    """Counts of runs per status, all time and created in the last hour, and how many are active now."""
    since = timezone.now() - timedelta(hours=1)
    rows = (
        Run.objects.order_by()
        .values("status")
        .annotate(total=Count("id"), last_hour=Count("id", filter=Q(created_at__gte=since)))
    )
    total = dict.fromkeys(Run.Status.values, 0)
    last_hour = dict.fromkeys(Run.Status.values, 0)
    for row in rows:
        total[row["status"]] = row["total"]
        last_hour[row["status"]] = row["last_hour"]
    return {
        "active": sum(total[status] for status in Run.ACTIVE_STATUSES),
        "queued": total["queued"],
        "in_progress": total["in_progress"],
        "by_status": total,
        "by_status_last_hour": last_hour,
    }


def conversation_counts() -> dict[str, int]:
    return {"threads": Thread.objects.count(), "runs": Run.objects.count()}


# The day view reads at most this many of the newest runs (enough for any chart, bounded for the database).
DAY_VIEW_MAX_RUNS = 50_000


def _nearest_rank(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return round(sorted_values[index], 3)


def runs_by_hour(*, hours: int = 24) -> list[dict[str, Any]]:
    """The last `hours` hour by hour (oldest first), from the runs table: runs created by status, tokens,
    run latency (start to end) and time to first token (p50/p99, seconds)."""
    now = timezone.now()
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    hours_list = [first_hour + timedelta(hours=offset) for offset in range(hours)]
    buckets: dict[datetime, dict[str, Any]] = {
        hour: {
            "runs": defaultdict(int),
            "tokens": {"prompt": 0, "completion": 0},
            "durations": [],
            "ttfts": [],
        }
        for hour in hours_list
    }
    rows = (
        Run.objects.filter(created_at__gte=first_hour)
        .order_by("-created_at")
        .values_list("created_at", "status", "usage", "ttft_ms", "started_at", "finished_at")[
            :DAY_VIEW_MAX_RUNS
        ]
    )
    for created_at, status, usage, ttft_ms, started_at, finished_at in rows:
        bucket = buckets.get(created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
        if bucket is None:
            continue
        bucket["runs"][status] += 1
        usage = usage if isinstance(usage, dict) else {}
        bucket["tokens"]["prompt"] += int(usage.get("prompt_tokens") or 0)
        bucket["tokens"]["completion"] += int(usage.get("completion_tokens") or 0)
        if started_at and finished_at:
            bucket["durations"].append((finished_at - started_at).total_seconds())
        if ttft_ms is not None:
            bucket["ttfts"].append(ttft_ms / 1000)
    series = []
    for hour in hours_list:
        bucket = buckets[hour]
        durations, ttfts = sorted(bucket["durations"]), sorted(bucket["ttfts"])
        series.append(
            {
                "start": int(hour.timestamp()),
                "runs": dict(bucket["runs"]),
                "tokens": bucket["tokens"],
                "latency_seconds": {
                    "p50": _nearest_rank(durations, 0.5),
                    "p99": _nearest_rank(durations, 0.99),
                },
                "ttft_seconds": {"p50": _nearest_rank(ttfts, 0.5), "p99": _nearest_rank(ttfts, 0.99)},
            }
        )
    return series


def run_errors_by_code(*, since: datetime) -> dict[str, int]:
    """Runs that failed since `since`, counted by their error code."""
    codes = Run.objects.filter(created_at__gte=since, status="failed").values_list("error", flat=True)
    counted: defaultdict[str, int] = defaultdict(int)
    for error in codes[:DAY_VIEW_MAX_RUNS]:
        code = error.get("code") if isinstance(error, dict) else None
        counted[str(code or "unknown")] += 1
    return dict(sorted(counted.items(), key=lambda item: -item[1]))
