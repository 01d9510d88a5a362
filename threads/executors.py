"""Where runs execute: `RUN_EXECUTOR=inline` (a task in this process's event loop) or `worker` (a message
on the `runs` channel, consumed by `python manage.py runworker runs`, see `threads.worker`).

Either way the process that executes runs keeps one `RunSupervisor` per event loop. It holds strong
references to the run tasks (a run goes on when its client disconnects), and one watcher task polls the
database every `CANCEL_POLL_SECONDS` for all of them at once: a cancel asked in any process reaches the run
within that time, heartbeats are written every `RUN_HEARTBEAT_SECONDS`, and a run that recovery or a thread
deletion ended elsewhere is stopped. A cancel asked in this process stops the task at once.
"""

import asyncio
import contextvars
import logging
import threading
import time
import weakref
from typing import Any
from uuid import UUID

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, close_old_connections, connection, connections
from django.utils import timezone

from threads.engine.control import CANCEL, SUPERSEDED, RunControl
from threads.engine.db import connection_release
from threads.engine.loop import Claim, run_execute
from threads.models import Run
from threads.recovery import recovery_start

logger = logging.getLogger(__name__)

RUNS_CHANNEL = "runs"
INLINE = "inline"
WORKER = "worker"
EXECUTORS = (INLINE, WORKER)
CANCEL_POLL_SECONDS = 0.25

_supervisors: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RunSupervisor]" = (
    weakref.WeakKeyDictionary()
)
_supervisors_lock = threading.Lock()


def _runs_watch(run_ids: list[str], heartbeat: bool) -> dict[str, tuple[str, bool]]:
    """(status, cancel_requested) of each run still in the database; heartbeats the ones in progress."""
    try:
        if heartbeat:
            running = Run.objects.filter(pk__in=run_ids, status=Run.Status.IN_PROGRESS)
            running.update(heartbeat_at=timezone.now())
        rows = Run.objects.filter(pk__in=run_ids).values_list("pk", "status", "cancel_requested")
        return {str(pk): (status, cancel) for pk, status, cancel in rows}
    except DatabaseError:
        # This long-lived thread keeps its connection; a broken one is dropped so the next poll reconnects.
        connection.close()
        raise
    finally:
        connection_release()


async def _run_isolated(run_id: UUID, control: RunControl, claim: Claim | None) -> None:
    """Execute a run with its own database thread, so that runs do not queue behind each other's database
    steps. Each step gives its connection back to the pool when it is done (`connection_release`): a run
    holds one only while it reads or writes, never while it waits on the LLM. SQLite serialises writers
    anyway, so there every run shares the one thread for database work instead."""
    if connections["default"].vendor == "sqlite":
        await run_execute(run_id, control=control, claim=claim)
        return
    async with ThreadSensitiveContext():
        try:
            await run_execute(run_id, control=control, claim=claim)
        finally:
            await sync_to_async(close_old_connections)()


class RunSupervisor:
    """The runs executing in one event loop, and the watcher that relays cancels and heartbeats."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.runs: dict[str, tuple[asyncio.Task[None], RunControl]] = {}
        self._watcher: asyncio.Task[None] | None = None

    def spawn(self, run_id: UUID, claim: Claim | None = None) -> asyncio.Task[None]:
        key = str(run_id)
        existing = self.runs.get(key)
        if existing is not None:
            return existing[0]
        control = RunControl()
        # A fresh context: the run must not belong to the request (or message) that started it.
        task = self.loop.create_task(_run_isolated(run_id, control, claim), context=contextvars.Context())
        self.runs[key] = (task, control)
        task.add_done_callback(lambda done: self._forget(key, done))
        if self._watcher is None or self._watcher.done():
            self._watcher = self.loop.create_task(self._watch(), context=contextvars.Context())
        recovery_start()
        return task

    def stop(self, run_id: UUID | str, reason: str) -> bool:
        """Stop a run executing here (call in this loop's thread). False when it is not here."""
        entry = self.runs.get(str(run_id))
        if entry is None:
            return False
        task, control = entry
        if not control.ending and not task.done():
            control.stop(reason)
            task.cancel()
        return True

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self.runs.get(key, (None,))[0] is task:
            del self.runs[key]
        if not task.cancelled() and task.exception() is not None:
            logger.error("Run %s ended with an error", key, exc_info=task.exception())

    async def _watch(self) -> None:
        last_heartbeat = time.monotonic()
        while self.runs:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            run_ids = list(self.runs)
            if not run_ids:
                break
            heartbeat = time.monotonic() - last_heartbeat >= settings.RUN_HEARTBEAT_SECONDS
            try:
                states = await sync_to_async(_runs_watch)(run_ids, heartbeat)
            except Exception as exc:
                logger.warning("Watching runs failed: %s", type(exc).__name__)
                continue
            if heartbeat:
                last_heartbeat = time.monotonic()
            for run_id in run_ids:
                state = states.get(run_id)
                if state is None or state[0] not in Run.ACTIVE_STATUSES:
                    self.stop(run_id, SUPERSEDED)
                elif state[1]:
                    # Asked again at every poll: a cancel that lands while the task waits on a thread can be
                    # absorbed, the next one is not.
                    self.stop(run_id, CANCEL)


def supervisor() -> RunSupervisor:
    """The supervisor of the running event loop."""
    loop = asyncio.get_running_loop()
    with _supervisors_lock:
        found = _supervisors.get(loop)
        if found is None:
            found = _supervisors[loop] = RunSupervisor(loop)
    return found


def run_spawn(run_id: UUID, claim: Claim | None = None) -> asyncio.Task[None]:
    """Execute a run in this process (inline executor, or a worker that received it); `claim`: the run was
    claimed for this process when it was created."""
    return supervisor().spawn(run_id, claim)


def run_stop_everywhere_local(run_id: UUID | str, reason: str = CANCEL) -> None:
    """Ask every event loop of this process that executes `run_id` to stop it. Safe from any thread; other
    processes learn it from the database at their next poll."""
    with _supervisors_lock:
        found = list(_supervisors.values())
    for entry in found:
        if entry.loop.is_closed():
            continue
        try:
            entry.loop.call_soon_threadsafe(entry.stop, str(run_id), reason)
        except RuntimeError:
            # The loop closed in between: nothing of it runs any more.
            continue


def claims_at_creation() -> bool:
    """Whether a run is claimed by the process that creates it (the inline executor): then its creation
    stores `run.in_progress` and reads its context in the same transaction."""
    return settings.RUN_EXECUTOR != WORKER


async def run_dispatch(*, run_id: UUID, claim: Claim | None = None) -> None:
    """Hand a run to the configured executor: a queued one to the workers, a claimed one to this process."""
    if claim is not None or settings.RUN_EXECUTOR != WORKER:
        run_spawn(run_id, claim)
    else:
        await get_channel_layer().send(RUNS_CHANNEL, {"type": "run.execute", "run_id": str(run_id)})


def executor_check(value: Any) -> None:
    if value not in EXECUTORS:
        raise ImproperlyConfigured(f"RUN_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {value!r}.")
