"""Runs with a given usage, as the engine stores them when they end, for the usage and quota tests."""

from datetime import datetime
from typing import Any

from threads.models import Run, Thread


def run_create(
    *,
    owner: Any,
    model: str = "gpt-4o",
    status: str = Run.Status.COMPLETED,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: float | None = None,
    created_at: datetime | None = None,
) -> Run:
    thread = Thread.objects.create(owner=owner, user_id=owner.get_username())
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost_usd": cost_usd,
    }
    run = Run.objects.create(thread=thread, task="t", status=status, llm_model=model, usage=usage)
    if created_at is not None:
        Run.objects.filter(pk=run.pk).update(created_at=created_at)
        run.refresh_from_db()
    return run
