"""Group commit of run events: every run executing in an event loop stores its events through one writer,
which writes whatever is waiting in one transaction (one multi-row INSERT), then publishes it.

A write waits only while the previous flush is in the database: an idle process stores an event at once
(time to first token), a busy one gathers the events of all its runs into each flush (one commit for
hundreds of events). Events are published after their commit and in the order they were written, so a
follower that reads the store and then listens misses nothing (see `threads.follow`).

A write that cannot be stored with the others (a run ended or deleted elsewhere took its `seq`, or its
row is gone) makes the flush fall back to one transaction per write: that write alone fails, with
`RunSuperseded`, and the others are stored.
"""

import asyncio
import contextvars
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from threads.engine.broadcast import events_broadcast
from threads.engine.db import connection_release
from threads.engine.events import Event
from threads.engine.rows import events_store

logger = logging.getLogger(__name__)

# What a write does in the flush's transaction before its events are inserted (store a message, end the
# run): returns its result and the events it stored itself (published with the write's own).
WriteStep = Callable[[], tuple[Any, list[Event]]]


class RunSuperseded(Exception):
    """The run was ended (or deleted) by someone else: this executor must stop without another event."""


@dataclass(eq=False)
class _Write:
    run_id: UUID
    events: list[Event]
    step: WriteStep | None
    done: asyncio.Future[Any]
    stored: list[Event] = field(default_factory=list)


def _write_apply(write: _Write) -> Any:
    result, extra = write.step() if write.step is not None else (None, [])
    write.stored = [*write.events, *extra]
    return result


def _write_failure(write: _Write, exc: Exception) -> Exception:
    # Its seq taken (a terminal event written elsewhere) or its run gone: the run is no longer ours.
    return RunSuperseded(str(write.run_id)) if isinstance(exc, IntegrityError) else exc


def _commit_without_fsync(writes: list[_Write]) -> None:
    """Inside the flush's transaction: on Postgres, with `RUN_EVENTS_ASYNC_COMMIT`, a flush of events alone
    commits without waiting for its WAL to reach the disk. A write with a step (a message, a run's end)
    waits for it, and with it for every flush before it (the WAL is written in order)."""
    events_alone = all(write.step is None for write in writes)
    if events_alone and settings.RUN_EVENTS_ASYNC_COMMIT and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")


def _writes_store(writes: list[_Write]) -> list[tuple[bool, Any]]:
    """Store every write: (True, its result) or (False, the exception it failed with), in order."""
    try:
        try:
            with transaction.atomic():
                _commit_without_fsync(writes)
                results = [_write_apply(write) for write in writes]
                events_store(event for write in writes for event in write.events)
            return [(True, result) for result in results]
        except Exception as exc:
            if len(writes) == 1:
                return [(False, _write_failure(writes[0], exc))]
        outcomes: list[tuple[bool, Any]] = []
        for write in writes:
            try:
                with transaction.atomic():
                    _commit_without_fsync([write])
                    result = _write_apply(write)
                    events_store(write.events)
                outcomes.append((True, result))
            except Exception as exc:
                outcomes.append((False, _write_failure(write, exc)))
        return outcomes
    finally:
        # The writer waits for the next events with no connection held (pooled connections go back).
        connection_release()


class EventWriter:
    """The writer of one event loop. `write` returns once the events are stored and published."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        # The writer's database work runs on a thread of its own (its connection is given back to the
        # pool after each flush), ended when the event loop goes.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-writer")
        weakref.finalize(loop, self.executor.shutdown, wait=False)
        self._waiting: list[_Write] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0

    async def write(self, run_id: UUID, events: list[Event], step: WriteStep | None = None) -> Any:
        """Store `events` (numbered) of one run, after `step` in the same transaction; then publish them
        and what `step` stored. Returns `step`'s result. A cancelled caller does not cancel the write: it
        is stored and published all the same (the run's later events come after it)."""
        write = _Write(run_id=run_id, events=events, step=step, done=self.loop.create_future())
        # Read even when the caller was cancelled meanwhile, so a failure is never reported as unretrieved.
        write.done.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._waiting.append(write)
        self._wakeup.set()
        if self._task is None or self._task.done():
            # A fresh context: the writer belongs to the process, not to the run that woke it first.
            self._task = self.loop.create_task(self._flush_forever(), context=contextvars.Context())
        return await asyncio.shield(write.done)

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            writes, self._waiting = self._waiting, []
            if writes:
                await self._flush(writes)

    async def _flush(self, writes: list[_Write]) -> None:
        try:
            outcomes = await self.loop.run_in_executor(self.executor, _writes_store, writes)
        except BaseException as exc:
            for write in writes:
                if not write.done.done():
                    write.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            raise
        self.flushes += 1
        # Published together (one message per thread), in the order written, before any writer returns.
        await events_broadcast(
            [event for write, (ok, _) in zip(writes, outcomes, strict=True) if ok for event in write.stored]
        )
        for write, (ok, value) in zip(writes, outcomes, strict=True):
            if ok:
                write.done.set_result(value)
            else:
                write.done.set_exception(value)


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventWriter]" = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def event_writer() -> EventWriter:
    """The writer of the running event loop."""
    loop = asyncio.get_running_loop()
    with _writers_lock:
        found = _writers.get(loop)
        if found is None:
            found = _writers[loop] = EventWriter(loop)
    return found
