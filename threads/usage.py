"""What runs used, read from each run's stored `usage` (`prompt_tokens`, `completion_tokens`,
`total_tokens`, `cost_usd`): the database is the one record every process shares. Read by quotas, the
usage report and the admin."""

from datetime import datetime
from typing import Any

from django.db.models import BigIntegerField, Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate

from threads.models import Run


def _int_of(key: str) -> Cast:
    return Cast(KT(f"usage__{key}"), BigIntegerField())


def _cost() -> Cast:
    return Cast(KT("usage__cost_usd"), FloatField())


# Runs whose cost is known: SQLite reads a JSON null as the text 'null', which casts to 0.
PRICED = Q(usage__cost_usd__isnull=False) & ~Q(usage__cost_usd=None)


def usage_sums() -> dict[str, Any]:
    """The aggregate expressions of a usage report, by output name."""
    return {
        "runs": Count("id"),
        "prompt_tokens": Coalesce(Sum(_int_of("prompt_tokens")), 0),
        "completion_tokens": Coalesce(Sum(_int_of("completion_tokens")), 0),
        "cost_usd": Sum(_cost(), filter=PRICED),
    }


def runs_of_user(user_id: int) -> QuerySet[Run]:
    return Run.objects.filter(thread__owner_id=user_id)


def tokens_used(user_id: int, *, since: datetime) -> int:
    total = runs_of_user(user_id).filter(created_at__gte=since).aggregate(total=Sum(_int_of("total_tokens")))
    return int(total["total"] or 0)


def cost_used(user_id: int, *, since: datetime) -> float:
    total = runs_of_user(user_id).filter(created_at__gte=since).aggregate(total=Sum(_cost(), filter=PRICED))
    return float(total["total"] or 0.0)


GROUP_KEYS = {
    "user": F("thread__owner__username"),
    "model": F("llm_model"),
    "day": TruncDate("created_at"),
}


def usage_rows(runs: QuerySet[Run], *, group_by: str) -> list[dict[str, Any]]:
    """`[{"key", "runs", "prompt_tokens", "completion_tokens", "cost_usd"}]`, ordered by key."""
    grouped = runs.annotate(key=GROUP_KEYS[group_by]).values("key").annotate(**usage_sums()).order_by("key")
    rows: list[dict[str, Any]] = [dict(row) for row in grouped]
    return [
        {
            "key": row["key"].isoformat() if hasattr(row["key"], "isoformat") else (row["key"] or ""),
            "runs": row["runs"],
            "prompt_tokens": int(row["prompt_tokens"]),
            "completion_tokens": int(row["completion_tokens"]),
            "cost_usd": None if row["cost_usd"] is None else round(float(row["cost_usd"]), 8),
        }
        for row in rows
    ]


def runs_between(start: datetime, end: datetime) -> QuerySet[Run]:
    return Run.objects.filter(created_at__gte=start, created_at__lt=end)


def thread_usage(thread_id: Any) -> dict[str, Any]:
    """What every run of one thread used together: `{"runs", "prompt_tokens", "completion_tokens",
    "cost_usd"}` (`cost_usd` null when no run was priced)."""
    sums = Run.objects.filter(thread_id=thread_id).aggregate(**usage_sums())
    cost = sums["cost_usd"]
    return {**sums, "cost_usd": None if cost is None else round(float(cost), 8)}
