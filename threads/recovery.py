"""Recovery: a run never stays `queued` or `in_progress` forever.

A run whose executor stopped heart-beating for `RUN_ORPHAN_AFTER_SECONDS` (its process died), or a queued
run no executor picked up in that time (its message was lost), is failed with `run.failed` and an error
saying why. The sweep runs when a process that serves or executes runs starts (first request, first run,
worker start), every `RUN_RECOVERY_INTERVAL_SECONDS` after that, and on demand
(`manage.py recover_runs`). It only ends runs that are still stale at the moment of the update, so a run
whose heartbeat just came back is left alone.
"""

import asyncio
import contextvars
import logging
import threading
import weakref
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from threads.engine.broadcast import event_broadcast, event_broadcast_sync
from threads.engine.events import RUN_FAILED, Event
from threads.engine.publisher import run_terminate
from threads.models import Run

logger = logging.getLogger(__name__)

_sweeping_loops: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()
_sweeping_lock = threading.Lock()
_sweep_tasks: set[asyncio.Task[None]] = set()


def _stale_in_progress(cutoff: datetime) -> Q:
    return Q(status=Run.Status.IN_PROGRESS) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )


def _stale_queued(cutoff: datetime) -> Q:
    return Q(status=Run.Status.QUEUED, created_at__lt=cutoff)


def orphan_error(run: Run) -> dict[str, str]:
    seconds = settings.RUN_ORPHAN_AFTER_SECONDS
    if run.status == Run.Status.QUEUED:
        return {
            "code": "run_not_started",
            "message": f"No executor picked this run up within {seconds} s (is a `runworker runs` process "
            "running?); it was failed by recovery.",
        }
    worker = f" ({run.worker_id})" if run.worker_id else ""
    return {
        "code": "worker_lost",
        "message": f"The process executing this run{worker} stopped for over {seconds} s without finishing "
        "it; the run was failed by recovery.",
    }


def run_orphan_fail(run: Run, *, now: datetime | None = None) -> Event | None:
    """Fail `run` if it is still orphaned; returns the `run.failed` event to broadcast (None: it was not)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.RUN_ORPHAN_AFTER_SECONDS)
    error = orphan_error(run)
    return run_terminate(
        run_id=run.id,
        thread_id=run.thread_id,
        type=RUN_FAILED,
        fields={"error": error, "usage": run.usage or {}},
        updates={"status": Run.Status.FAILED, "error": error},
        where=_stale_in_progress(cutoff) | _stale_queued(cutoff),
    )


def runs_orphaned(*, now: datetime | None = None) -> list[Run]:
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.RUN_ORPHAN_AFTER_SECONDS)
    return list(Run.objects.filter(_stale_in_progress(cutoff) | _stale_queued(cutoff)).order_by("created_at"))


def runs_recover(*, now: datetime | None = None) -> list[Event]:
    """Fail every orphaned run; returns their `run.failed` events (stored; to broadcast)."""
    events = []
    for run in runs_orphaned(now=now):
        event = run_orphan_fail(run, now=now)
        if event is not None:
            logger.warning("Recovery failed run %s (%s)", run.id, event["error"]["code"])
            events.append(event)
    return events


def runs_recover_and_broadcast() -> list[Event]:
    """The synchronous sweep (management command): fail orphans, tell their threads' subscribers."""
    events = runs_recover()
    for event in events:
        event_broadcast_sync(event)
    return events


async def arecover() -> list[Event]:
    events = await sync_to_async(runs_recover)()
    for event in events:
        await event_broadcast(event)
    return events


async def _sweep_forever() -> None:
    while True:
        try:
            await arecover()
        except Exception as exc:
            # A sweep that cannot reach the database now will try again at the next interval.
            logger.warning("Recovery sweep failed: %s", type(exc).__name__)
        interval = settings.RUN_RECOVERY_INTERVAL_SECONDS
        if interval <= 0:
            return
        await asyncio.sleep(interval)


def recovery_start() -> None:
    """Start the sweeps in the running event loop, once per loop (call it from async code)."""
    loop = asyncio.get_running_loop()
    with _sweeping_lock:
        if loop in _sweeping_loops:
            return
        _sweeping_loops.add(loop)
    # A fresh context: the sweeps belong to the process, not to the request or run that started them.
    task = loop.create_task(_sweep_forever(), context=contextvars.Context())
    _sweep_tasks.add(task)
    task.add_done_callback(_sweep_tasks.discard)


async def recovery_on_server_start(sender: Any, **kwargs: Any) -> None:
    """`request_started` receiver for the ASGI handler: the first request of a server process starts its
    sweeps (there is no database access at import or app-ready time)."""
    recovery_start()
