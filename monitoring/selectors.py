"""What monitoring reads from the database: runs by status and the size of the registry."""

from datetime import timedelta
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
