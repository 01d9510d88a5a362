"""Quotas in force at run start, and the token budget a run may spend.

`quota_check_start` is called inside the transaction that creates a run, after the thread's row lock: it
locks the user's row too, so that concurrent starts of one user are counted one after the other (a run
counts from the moment its row exists). The figures come from the runs table, which every process shares.
Tokens and cost of a run count once the run has ended (its usage is stored then): runs in flight can take
a user over a daily or monthly limit by what they use, never by more; `quota_token_budget` lets the engine
stop a run that goes over the tokens left when it started.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Min
from django.utils import timezone

from governance.models import Quota
from governance.selectors import quota_for_user
from orchestrator_studio.errors import TooManyRequests
from threads.models import Run
from threads.usage import cost_used, runs_of_user, tokens_used

QUOTA_EXCEEDED = "quota_exceeded"
# A concurrency slot frees when a run ends, which nothing can foretell: clients are asked to retry soon.
CONCURRENT_RETRY_SECONDS = 5
MINUTE = timedelta(minutes=1)


class QuotaExceeded(TooManyRequests):
    """429 `quota_exceeded`: which `limit` (its `limit_value`) was reached and when it resets."""

    def __init__(
        self, message: str, *, limit: str, limit_value: object, resets_at: datetime | None, retry_after: int
    ):
        super().__init__(
            message,
            code=QUOTA_EXCEEDED,
            retry_after=retry_after,
            limit=limit,
            limit_value=limit_value,
            resets_at=resets_at.isoformat().replace("+00:00", "Z") if resets_at else None,
        )
        self.limit = limit

    def as_run_error(self) -> dict[str, str]:
        return {"code": QUOTA_EXCEEDED, "message": self.message}


@dataclass(frozen=True)
class Periods:
    now: datetime
    day_start: datetime
    next_day: datetime
    month_start: datetime
    next_month: datetime


def periods(now: datetime | None = None) -> Periods:
    """The UTC day and calendar month the daily and monthly limits count in."""
    now = now or timezone.now()
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return Periods(now, day_start, day_start + timedelta(days=1), month_start, next_month)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _lock_user(user_id: int) -> None:
    """Serialise the quota checks of one user's starts (Postgres; SQLite holds its one write lock)."""
    list(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def quota_check_start(*, user_id: int) -> Quota | None:
    """Refuse a new run of `user_id` with `QuotaExceeded` when any limit of their quota is reached; returns
    the quota in force (None: no limits), for the run's token budget. Call it inside the transaction that
    then creates the run."""
    quota = quota_for_user(user_id)
    if quota is None or all(getattr(quota, limit) is None for limit in Quota.LIMITS):
        return quota
    _lock_user(user_id)
    now = periods()
    runs = runs_of_user(user_id)
    if quota.max_concurrent_runs is not None:
        active = runs.filter(status__in=Run.ACTIVE_STATUSES).count()
        if active >= quota.max_concurrent_runs:
            raise QuotaExceeded(
                f"You have {active} runs in progress, the most your quota allows at once "
                f"({quota.max_concurrent_runs}); start another when one has ended.",
                limit="max_concurrent_runs",
                limit_value=quota.max_concurrent_runs,
                resets_at=None,
                retry_after=CONCURRENT_RETRY_SECONDS,
            )
    if quota.runs_per_minute is not None:
        recent = runs.filter(created_at__gt=now.now - MINUTE).aggregate(
            count=Count("id"), oldest=Min("created_at")
        )
        if recent["count"] >= quota.runs_per_minute:
            resets_at = recent["oldest"] + MINUTE
            raise QuotaExceeded(
                f"Your quota allows {quota.runs_per_minute} runs per minute.",
                limit="runs_per_minute",
                limit_value=quota.runs_per_minute,
                resets_at=resets_at,
                retry_after=_seconds_until(resets_at, now.now),
            )
    if quota.tokens_per_day is not None and tokens_used(user_id, since=now.day_start) >= quota.tokens_per_day:
        raise QuotaExceeded(
            f"Your quota of {quota.tokens_per_day} tokens per day (UTC) is used up.",
            limit="tokens_per_day",
            limit_value=quota.tokens_per_day,
            resets_at=now.next_day,
            retry_after=_seconds_until(now.next_day, now.now),
        )
    if quota.cost_usd_per_month is not None and cost_used(user_id, since=now.month_start) >= float(
        quota.cost_usd_per_month
    ):
        raise QuotaExceeded(
            f"Your quota of {quota.cost_usd_per_month} USD per month (UTC) is used up.",
            limit="cost_usd_per_month",
            limit_value=float(quota.cost_usd_per_month),
            resets_at=now.next_month,
            retry_after=_seconds_until(now.next_month, now.now),
        )
    return quota


def quota_token_budget(*, user_id: int, quota: Quota | None) -> int | None:
    """The tokens `user_id` may still spend today under `quota` (theirs, `quota_for_user`), for a run
    starting now (None: no daily limit)."""
    if quota is None or quota.tokens_per_day is None:
        return None
    return max(0, quota.tokens_per_day - tokens_used(user_id, since=periods().day_start))


def quota_token_overrun(*, budget: int | None, used: int) -> QuotaExceeded | None:
    """The error that ends a run which has used more than its `budget` (checked between LLM turns)."""
    if budget is None or used <= budget:
        return None
    next_day = periods().next_day
    return QuotaExceeded(
        f"This run used {used} tokens, more than the {budget} left of your daily quota; it was stopped.",
        limit="tokens_per_day",
        limit_value=budget,
        resets_at=next_day,
        retry_after=_seconds_until(next_day, timezone.now()),
    )
