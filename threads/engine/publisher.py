"""The one place a run's events are numbered, stored and sent to the thread's group.

Every event is numbered here (`seq`), stored by the event loop's writer together with the events of every
other run (`threads.engine.writer`), and only then sent: storing before sending is what lets a client read
the stored events, subscribe, and miss nothing (see `threads.follow`). Token deltas are coalesced BEFORE
they get a `seq`, so the live stream and the stored one are the same events: the first delta of a message
goes out at once (time to first token), later ones are merged for up to `DELTA_WINDOW_SECONDS` or
`DELTA_MAX_CHARS`.

A terminal event is written in the same transaction as the run's final status, and only while the run is
still active, so a run gets exactly one terminal event even when recovery, a cancel of a queued run or a
thread deletion ends it from another process.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from threads.engine.broadcast import event_build
from threads.engine.events import MESSAGE_DELTA, TERMINAL_EVENT_TYPES, Event
from threads.engine.rows import events_store
from threads.engine.writer import RunSuperseded, event_writer
from threads.models import Run, RunEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")

DELTA_WINDOW_SECONDS = 0.05
DELTA_MAX_CHARS = 400
APPEND_ATTEMPTS = 5


def run_terminate(
    *,
    run_id: UUID,
    thread_id: UUID,
    type: str,
    fields: dict[str, Any],
    updates: dict[str, Any],
    where: Q | None = None,
    preceding: list[Event] | None = None,
    seq_hint: int | None = None,
) -> Event | None:
    """End an active run (that also matches `where`): set its final status (`updates`) and store its
    terminal event, atomically. Returns the event to broadcast after commit, or None when the run had
    already ended (or no longer matches).

    `preceding`: the executor's own last events (numbered, not yet stored), stored in the same statement
    just before the terminal event; the caller broadcasts them first. Their seq taken means the run is no
    longer the caller's: nothing is written and `RunSuperseded` is raised. `seq_hint`: the seq the caller
    expects to be next when there is nothing preceding (it knows what it stored)."""
    if type not in TERMINAL_EVENT_TYPES:
        raise ValueError(f"{type} is not a terminal event type.")
    now = timezone.now()
    runs = Run.objects.filter(pk=run_id, status__in=Run.ACTIVE_STATUSES)
    if where is not None:
        runs = runs.filter(where)
    with transaction.atomic():
        ended = runs.update(finished_at=now, heartbeat_at=now, **updates)
        if not ended:
            return None
        if preceding:
            seq_hint = preceding[-1]["seq"] + 1
        if seq_hint is not None:
            event = event_build(type=type, thread_id=thread_id, run_id=run_id, seq=seq_hint, **fields)
            events = [*(preceding or []), event]
            if preceding:
                # Their seq taken: the whole transaction is undone (the run stays as the other one left it).
                try:
                    events_store(events)
                except IntegrityError as exc:
                    raise RunSuperseded(str(run_id)) from exc
                return event
            # Nothing of ours precedes it: if its seq was taken, it goes after the last event (a savepoint
            # keeps the transaction usable for that).
            try:
                with transaction.atomic():
                    events_store(events)
                return event
            except IntegrityError:
                pass
        return event_append(run_id=run_id, thread_id=thread_id, type=type, fields=fields)


def event_append(*, run_id: UUID, thread_id: UUID, type: str, fields: dict[str, Any]) -> Event:
    """Store an event after the run's last one, from outside its executor (a terminal event, a retry). An
    executor of the run may be storing an event at the same moment: its seq wins, and ours takes the next
    (its later events then find their seq taken and stop, see `RunSuperseded`)."""
    for _ in range(APPEND_ATTEMPTS):
        next_seq = (RunEvent.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"] or 0) + 1
        event = event_build(type=type, thread_id=thread_id, run_id=run_id, seq=next_seq, **fields)
        try:
            with transaction.atomic():
                events_store([event])
        except IntegrityError:
            continue
        return event
    raise RuntimeError(f"Could not store event {type} of run {run_id}.")


class RunPublisher:
    """Publishes one run's events from the process that executes it. Safe to call from concurrent tasks
    of that run (tool calls finish in any order); one lock keeps `seq` and the store in step."""

    def __init__(self, *, run_id: UUID, thread_id: UUID, next_seq: int):
        self.run_id = run_id
        self.thread_id = thread_id
        self._next_seq = next_seq
        # False once a write failed for a reason other than the run being superseded: whether its events
        # were stored is unknown, so the terminal event takes the seq after the last one stored.
        self._seq_known = True
        self._lock = asyncio.Lock()
        self._pending: list[str] = []
        self._pending_chars = 0
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_error: BaseException | None = None
        # True once a delta went out since the last other event: later deltas of that message may wait.
        self._message_streaming = False
        self.ended = False

    async def emit(self, type: str, **fields: Any) -> Event:
        async with self._lock:
            # Deltas still pending go first, stored with this event in one INSERT.
            ready = self._take_pending()
            ready.append((type, fields))
            return (await self._send_all(ready))[-1]

    async def emit_stored(
        self, store: Callable[[], T], type: str, fields: Callable[[T], dict[str, Any]]
    ) -> tuple[T, Event]:
        """`store()` (a database write, e.g. the message an event announces) and the event it leads to, in
        one transaction: no event without its row or row without its event. Returns what `store` returned
        and the event, sent after the commit."""
        async with self._lock:
            ready = self._take_pending()
            ready.append((type, {}))
            if self.ended:
                raise RunSuperseded(str(self.run_id))
            events = self._number(ready)
            last = events[-1]

            def step() -> tuple[T, list[Event]]:
                result = store()
                last.update(fields(result))
                return result, []

            result = await self._write(events, step)
            return result, last

    async def delta(self, text: str) -> None:
        if not text:
            return
        self._raise_flush_error()
        async with self._lock:
            if not self._message_streaming and not self._pending:
                self._message_streaming = True
                await self._send_all([(MESSAGE_DELTA, {"delta": text})])
                return
            self._pending.append(text)
            self._pending_chars += len(text)
            if self._pending_chars >= DELTA_MAX_CHARS:
                await self._flush_pending()
            elif self._flush_task is None:
                self._flush_task = asyncio.create_task(self._flush_later())

    async def terminate(
        self,
        type: str,
        *,
        fields: dict[str, Any],
        updates: dict[str, Any],
        closing: tuple[str, Callable[[], dict[str, Any]]] | None = None,
    ) -> Event | None:
        """Flush what is pending, then end the run with its terminal event (None: someone else ended it).
        `closing`: the event before the terminal one (`message.completed`) and the write of the row it
        announces (the final message), which returns the event's fields; all in one transaction."""
        await self._stop_flush_task()
        async with self._lock:
            if self.ended:
                return None
            self.ended = True
            # Pending deltas are stored in the terminal event's transaction (one commit for all). After a
            # failed write the seq is not known: the terminal event then follows whatever is stored.
            ready = self._take_pending()
            if closing is not None:
                ready.append((closing[0], {}))
            preceding = self._number(ready) if self._seq_known else []
            seq_hint = self._next_seq if self._seq_known else None

            def step() -> tuple[Event | None, list[Event]]:
                if closing is not None:
                    fields_closing = closing[1]()
                    if preceding:
                        preceding[-1].update(fields_closing)
                event = run_terminate(
                    run_id=self.run_id,
                    thread_id=self.thread_id,
                    type=type,
                    fields=fields,
                    updates=updates,
                    preceding=preceding,
                    seq_hint=seq_hint,
                )
                return event, [*preceding, event] if event is not None else []

            try:
                event: Event | None = await event_writer().write(self.run_id, [], step)
            except RunSuperseded:
                event = None
            if event is not None:
                self._next_seq = event["seq"] + 1
            return event

    async def close(self) -> None:
        await self._stop_flush_task()

    async def _send_all(self, ready: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Number, store (with the other runs' events) and only then send events that are ready together."""
        if self.ended:
            raise RunSuperseded(str(self.run_id))
        events = self._number(ready)
        await self._write(events, None)
        return events

    async def _write(self, events: list[Event], step: Callable[[], tuple[Any, list[Event]]] | None) -> Any:
        try:
            return await event_writer().write(self.run_id, events, step)
        except RunSuperseded:
            self.ended = True
            raise
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._seq_known = False
            raise

    def _number(self, ready: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        events = []
        for type, fields in ready:
            if type != MESSAGE_DELTA:
                self._message_streaming = False
            events.append(
                event_build(
                    type=type, thread_id=self.thread_id, run_id=self.run_id, seq=self._next_seq, **fields
                )
            )
            self._next_seq += 1
        return events

    def _take_pending(self) -> list[tuple[str, dict[str, Any]]]:
        """The pending deltas as one event to send (none when nothing is pending); stops the timer."""
        self._raise_flush_error()
        task, self._flush_task = self._flush_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if not self._pending:
            return []
        text = "".join(self._pending)
        self._pending.clear()
        self._pending_chars = 0
        return [(MESSAGE_DELTA, {"delta": text})]

    async def _flush_pending(self) -> None:
        ready = self._take_pending()
        if ready:
            await self._send_all(ready)

    async def _flush_later(self) -> None:
        await asyncio.sleep(DELTA_WINDOW_SECONDS)
        try:
            async with self._lock:
                if self._flush_task is asyncio.current_task():
                    await self._flush_pending()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # Surfaces in the run's own task at its next delta or event.
            self._flush_error = exc

    async def _stop_flush_task(self) -> None:
        task, self._flush_task = self._flush_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _raise_flush_error(self) -> None:
        if self._flush_error is not None:
            error, self._flush_error = self._flush_error, None
            raise error
