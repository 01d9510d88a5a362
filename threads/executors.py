"""Where runs execute: `RUN_EXECUTOR=inline` (a task in the event loop of the process that creates the run,
which claims it in the same transaction) or `worker` (`python manage.py runworker runs`, see
`threads.worker`): the queued Run rows in Postgres are the queue, claimed with `SELECT ... FOR UPDATE SKIP
LOCKED`, and the message on the `runs` channel is only a wake-up, so a run accepted with 202 waits for a
worker however long none is running.

Every process that serves or executes runs keeps one `RunSupervisor` per event loop. It holds strong
references to the run tasks (a run goes on when its client disconnects); one watcher task polls the
database every `CANCEL_POLL_SECONDS` for all of them at once: a cancel asked in any process reaches the run
within that time, heartbeats are written every `RUN_HEARTBEAT_SECONDS`, and a run that recovery, a thread
deletion or another executor took over is stopped. A cancel asked in this process stops the task at once.
One scheduler task sweeps for orphaned runs (`threads.recovery`) every `RUN_RECOVERY_INTERVAL_SECONDS` and,
in a process that executes runs, claims the queued ones (at once when woken).
"""

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
import weakref
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.utils import timezone

from threads.approvals import DecisionsApplied, approvals_expire
from threads.engine.broadcast import event_broadcast
from threads.engine.control import CANCEL, SUPERSEDED, RunControl, worker_identity
from threads.engine.db import connection_release
from threads.engine.events import RUN_RETRYING
from threads.engine.loop import Claim, run_execute, runs_claim_queued
from threads.models import Run
from threads.recovery import arecover, runs_queued_exist

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


def _runs_watch(run_ids: list[str], heartbeat: bool, worker_id: str) -> dict[str, tuple[bool, bool]]:
    """(still ours, cancel_requested) of each run still in the database: ours while in progress with this
    process as its executor. Heartbeats the ones that are ours."""
    try:
        mine = Run.objects.filter(pk__in=run_ids, status=Run.Status.IN_PROGRESS, worker_id=worker_id)
        if heartbeat:
            mine.update(heartbeat_at=timezone.now())
        rows = Run.objects.filter(pk__in=run_ids).values_list("pk", "status", "worker_id", "cancel_requested")
        return {
            str(pk): (status == Run.Status.IN_PROGRESS and worker == worker_id, cancel)
            for pk, status, worker, cancel in rows
        }
    except DatabaseError:
        # This long-lived thread keeps its connection; a broken one is dropped so the next poll reconnects.
        connection.close()
        raise
    finally:
        connection_release()


class RunSupervisor:
    """The runs executing in one event loop, the watcher that relays cancels and heartbeats, and the
    scheduler that recovers orphans and claims queued runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.runs: dict[str, tuple[asyncio.Task[None], RunControl]] = {}
        self.worker_id = worker_identity()
        # Whether this loop claims queued runs: a `runworker`, or any process with the inline executor.
        self.claims_queued = settings.RUN_EXECUTOR != WORKER
        # True when the last claim took as many runs as there were free slots: more may be waiting.
        self._claim_filled = False
        self._watcher: asyncio.Task[None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()

    def spawn(self, run_id: UUID, claim: Claim) -> asyncio.Task[None]:
        """Execute a run claimed for this process. Only claimed runs are spawned: the watcher takes a run
        that is not in progress here for one ended or taken over elsewhere, and stops it."""
        key = str(run_id)
        existing = self.runs.get(key)
        if existing is not None:
            return existing[0]
        control = RunControl()
        # A fresh context: the run must not belong to the request (or message) that started it.
        task = self.loop.create_task(run_execute(claim, control=control), context=contextvars.Context())
        self.runs[key] = (task, control)
        task.add_done_callback(lambda done: self._forget(key, done))
        if self._watcher is None or self._watcher.done():
            self._watcher = self.loop.create_task(self._watch(), context=contextvars.Context())
        self.schedule()
        return task

    def schedule(self, *, claims_queued: bool | None = None) -> None:
        """Start the scheduler of this loop (once); `claims_queued`: this loop executes queued runs."""
        if claims_queued is not None:
            self.claims_queued = claims_queued
        if self._scheduler is None or self._scheduler.done():
            # A fresh context: the sweeps belong to the process, not to the request or run that started them.
            self._scheduler = self.loop.create_task(self._schedule_forever(), context=contextvars.Context())

    def wake(self) -> None:
        """Claim queued runs now (a `run.execute` wake-up arrived)."""
        self._wakeup.set()

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
        if self.claims_queued and self._claim_filled:
            # A slot came free: queued runs the last claim left behind can go now.
            self._wakeup.set()

    async def _watch(self) -> None:
        last_heartbeat = time.monotonic()
        while self.runs:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            run_ids = list(self.runs)
            if not run_ids:
                break
            heartbeat = time.monotonic() - last_heartbeat >= settings.RUN_HEARTBEAT_SECONDS
            try:
                states = await sync_to_async(_runs_watch)(run_ids, heartbeat, self.worker_id)
            except Exception as exc:
                logger.warning("Watching runs failed: %s", type(exc).__name__)
                continue
            if heartbeat:
                last_heartbeat = time.monotonic()
            for run_id in run_ids:
                state = states.get(run_id)
                if state is None or not state[0]:
                    self.stop(run_id, SUPERSEDED)
                elif state[1]:
                    # Asked again at every poll: a cancel that lands while the task waits on a thread can be
                    # absorbed, the next one is not.
                    self.stop(run_id, CANCEL)

    async def _schedule_forever(self) -> None:
        next_sweep = time.monotonic()
        while True:
            if time.monotonic() >= next_sweep:
                await self._sweep()
                interval = settings.RUN_RECOVERY_INTERVAL_SECONDS
                next_sweep = time.monotonic() + interval if interval > 0 else float("inf")
            if self.claims_queued:
                await self._claim()
            remaining = next_sweep - time.monotonic()
            timeout = None if remaining == float("inf") else max(0.0, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            self._wakeup.clear()

    async def _sweep(self) -> None:
        try:
            events = await arecover()
            for applied in await sync_to_async(approvals_expire)():
                await decisions_announce(applied)
        except Exception as exc:
            # A sweep that cannot reach the database now will try again at the next interval.
            logger.warning("Recovery sweep failed: %s", type(exc).__name__)
            return
        if self.claims_queued:
            return
        # A server of the worker executor: queued runs (retried ones, or ones whose wake-up expired while
        # no worker ran) wake the workers again; a worker that just started begins claiming at its first
        # wake-up.
        try:
            waiting = (
                any(event["type"] == RUN_RETRYING for event in events)
                or await sync_to_async(runs_queued_exist)()
            )
        except Exception as exc:
            logger.warning("Looking for queued runs failed: %s", type(exc).__name__)
            return
        if waiting:
            await _workers_wake()

    async def _claim(self) -> None:
        free = settings.RUN_EXECUTOR_MAX_RUNS - len(self.runs)
        self._claim_filled = free <= 0
        if free <= 0:
            return
        try:
            claims = await sync_to_async(runs_claim_queued)(self.worker_id, free)
        except Exception as exc:
            logger.warning("Claiming queued runs failed: %s", type(exc).__name__)
            return
        self._claim_filled = len(claims) == free
        for claim in claims:
            if claim.in_progress is not None:
                await event_broadcast(claim.in_progress)
            self.spawn(claim.run.id, claim)


def supervisor() -> RunSupervisor:
    """The supervisor of the running event loop."""
    loop = asyncio.get_running_loop()
    with _supervisors_lock:
        found = _supervisors.get(loop)
        if found is None:
            found = _supervisors[loop] = RunSupervisor(loop)
    return found


def run_spawn(run_id: UUID, claim: Claim) -> asyncio.Task[None]:
    """Execute a run claimed for this process (when it was created, with the inline executor)."""
    return supervisor().spawn(run_id, claim)


def runs_claim_soon() -> None:
    """This event loop claims queued runs (up to its free slots, oldest first) at once."""
    found = supervisor()
    found.schedule(claims_queued=True)
    found.wake()


def scheduling_start(*, claims_queued: bool | None = None) -> None:
    """Start this event loop's recovery sweeps (and, when `claims_queued`, its claims of queued runs)."""
    supervisor().schedule(claims_queued=claims_queued)


async def scheduling_on_server_start(sender: Any, **kwargs: Any) -> None:
    """`request_started` receiver for the ASGI handler: the first request of a server process starts its
    sweeps (there is no database access at import or app-ready time)."""
    scheduling_start()


async def _workers_wake() -> None:
    try:
        await get_channel_layer().send(RUNS_CHANNEL, {"type": "run.execute"})
    except Exception as exc:
        # The workers' own sweeps claim the queued runs at their next interval.
        logger.warning("Could not wake the run workers: %s", type(exc).__name__)


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
    """Hand a run to the configured executor: a claimed one to this process; a queued one stays in the
    database for the executors that claim queued runs: with the inline executor this loop's scheduler,
    woken now; otherwise the workers, woken by a message on the `runs` channel (a lost message delays the
    run until a worker's next sweep, never loses it).

    A queued run is never spawned to claim itself: until its claim commits it is not in progress here, and
    a watcher poll in between would stop it as taken over (and the claim that commits afterwards would
    leave it in progress with no task, for recovery to fail)."""
    if claim is not None:
        run_spawn(run_id, claim)
    elif settings.RUN_EXECUTOR != WORKER:
        runs_claim_soon()
    else:
        await get_channel_layer().send(RUNS_CHANNEL, {"type": "run.execute", "run_id": str(run_id)})


async def decisions_announce(applied: DecisionsApplied) -> None:
    """Broadcast stored decisions (`tool_call.approval_decided`), and hand a run they settled (queued again)
    to the executor: this process with the inline executor, the workers otherwise. A lost wake-up only
    delays the run until an executor's next sweep claims it."""
    for event in applied.events:
        await event_broadcast(event)
    if applied.resumed:
        try:
            await run_dispatch(run_id=applied.run_id)
        except Exception as exc:
            logger.warning(
                "Could not hand run %s back to an executor: %s", applied.run_id, type(exc).__name__
            )


def executor_check(value: Any) -> None:
    if value not in EXECUTORS:
        raise ImproperlyConfigured(f"RUN_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {value!r}.")
