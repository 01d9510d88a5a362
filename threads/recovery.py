"""Recovery: a run whose executor died is never left in progress.

A run whose executor stopped heart-beating for `RUN_ORPHAN_AFTER_SECONDS` (its process died) is run again
from the start when no tool call of it had started (a tool may have acted on the world: running it twice
is not safe) and it has attempts left (`RUN_MAX_ATTEMPTS`): it goes back to the queue, announced by
`run.retrying` `{"attempt", "reason"}`, and clients reset the message text. Otherwise it is failed
`worker_lost` with its one terminal event. A queued run is never failed: it waits in the database for an
executor however long none is running (API.md, "Runs: never lost").

The sweep runs in every process that serves or executes runs (`threads.executors`), every
`RUN_RECOVERY_INTERVAL_SECONDS`, and on demand (`manage.py recover_runs`). It only touches runs that are
still stale at the moment of the update, so a run whose heartbeat just came back is left alone.
"""

import logging
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from threads.engine.broadcast import event_broadcast, event_broadcast_sync
from threads.engine.db import connection_release
from threads.engine.events import RUN_FAILED, RUN_RETRYING, TOOL_CALL_STARTED, Event
from threads.engine.publisher import event_append, run_terminate
from threads.models import Run, RunEvent

logger = logging.getLogger(__name__)

WORKER_LOST = "worker_lost"


def _stale_in_progress(cutoff: datetime) -> Q:
    return Q(status=Run.Status.IN_PROGRESS) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )


def _cutoff(now: datetime | None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.RUN_ORPHAN_AFTER_SECONDS)


def orphan_error(run: Run) -> dict[str, str]:
    worker = f" ({run.worker_id})" if run.worker_id else ""
    return {
        "code": WORKER_LOST,
        "message": f"The process executing this run{worker} stopped for over "
        f"{settings.RUN_ORPHAN_AFTER_SECONDS} s without finishing it; the run was failed by recovery.",
    }


def run_orphan_fail(run: Run, *, now: datetime | None = None) -> Event | None:
    """Fail `run` if it is still orphaned; returns the `run.failed` event to broadcast (None: it was not)."""
    error = orphan_error(run)
    return run_terminate(
        run_id=run.id,
        thread_id=run.thread_id,
        type=RUN_FAILED,
        fields={"error": error, "usage": run.usage or {}},
        updates={"status": Run.Status.FAILED, "error": error},
        where=_stale_in_progress(_cutoff(now)),
    )


def run_orphan_recover(run: Run, *, now: datetime | None = None) -> Event | None:
    """Queue `run` again (`run.retrying`) or fail it (`run.failed`), if it is still orphaned; returns the
    event to broadcast (None: it was not orphaned any more)."""
    with transaction.atomic():
        stale = (
            Run.objects.select_for_update()
            .filter(pk=run.pk)
            .filter(_stale_in_progress(_cutoff(now)))
            .values_list("attempts", flat=True)
            .first()
        )
        if stale is None:
            return None
        attempts = stale
        tool_started = RunEvent.objects.filter(run_id=run.pk, type=TOOL_CALL_STARTED).exists()
        if not tool_started and attempts < settings.RUN_MAX_ATTEMPTS:
            Run.objects.filter(pk=run.pk).update(
                status=Run.Status.QUEUED,
                worker_id="",
                started_at=None,
                heartbeat_at=None,
                attempts=F("attempts") + 1,
            )
            return event_append(
                run_id=run.id,
                thread_id=run.thread_id,
                type=RUN_RETRYING,
                fields={"attempt": attempts + 1, "reason": WORKER_LOST},
            )
        return run_orphan_fail(run, now=now)


def runs_queued_exist() -> bool:
    try:
        return Run.objects.filter(status=Run.Status.QUEUED).exists()
    finally:
        connection_release()


def runs_orphaned(*, now: datetime | None = None) -> list[Run]:
    return list(Run.objects.filter(_stale_in_progress(_cutoff(now))).order_by("created_at"))


def runs_recover(*, now: datetime | None = None) -> list[Event]:
    """Retry or fail every orphaned run; returns their `run.retrying` / `run.failed` events (stored; to
    broadcast). A retried run is queued: an executor claims it (see `threads.executors`)."""
    events = []
    try:
        for run in runs_orphaned(now=now):
            event = run_orphan_recover(run, now=now)
            if event is not None:
                outcome = event["type"] if event["type"] == RUN_RETRYING else event["error"]["code"]
                logger.warning("Recovery: run %s %s", run.id, outcome)
                events.append(event)
    finally:
        # The sweep comes back every few seconds on a long-lived thread: it holds no connection meanwhile.
        connection_release()
    return events


async def arecover() -> list[Event]:
    """The sweep of a process that serves or executes runs: recover orphans, tell their threads."""
    events = await sync_to_async(runs_recover)()
    for event in events:
        await event_broadcast(event)
    return events


def runs_recover_and_broadcast() -> list[Event]:
    """The synchronous sweep (management command): recover orphans, tell their threads' subscribers."""
    events = runs_recover()
    for event in events:
        event_broadcast_sync(event)
    return events
