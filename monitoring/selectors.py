"""What monitoring reads from the database: runs by status and the size of the registry."""

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

RUN_STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled")


def runs_by_status() -> dict[str, Any]:
    """Counts of runs per status, all time and created in the last hour, and how many are active now."""
    from threads.models import Run

    since = timezone.now() - timedelta(hours=1)
    rows = (
        Run.objects.order_by()
        .values("status")
        .annotate(total=Count("id"), last_hour=Count("id", filter=Q(created_at__gte=since)))
    )
    total = dict.fromkeys(RUN_STATUSES, 0)
    last_hour = dict.fromkeys(RUN_STATUSES, 0)
    for row in rows:
        total[row["status"]] = row["total"]
        last_hour[row["status"]] = row["last_hour"]
    return {
        "active": total["queued"] + total["in_progress"],
        "queued": total["queued"],
        "in_progress": total["in_progress"],
        "by_status": total,
        "by_status_last_hour": last_hour,
    }


def registry_counts() -> dict[str, dict[str, int]]:
    from registry.models import DataSource, ExternalAgent, LLMConfig, Tool

    counts = {}
    for name, model in (
        ("llm_configs", LLMConfig),
        ("agents", ExternalAgent),
        ("tools", Tool),
        ("datasources", DataSource),
    ):
        counts[name] = model.objects.order_by().aggregate(
            total=Count("id"), enabled=Count("id", filter=Q(enabled=True))
        )
    return counts


def conversation_counts() -> dict[str, int]:
    from threads.models import Run, Thread

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
    from threads.models import Run

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
    from threads.models import Run

    codes = Run.objects.filter(created_at__gte=since, status="failed").values_list("error", flat=True)
    counted: defaultdict[str, int] = defaultdict(int)
    for error in codes[:DAY_VIEW_MAX_RUNS]:
        code = error.get("code") if isinstance(error, dict) else None
        counted[str(code or "unknown")] += 1
    return dict(sorted(counted.items(), key=lambda item: -item[1]))
