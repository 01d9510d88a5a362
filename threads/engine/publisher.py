"""The one place a run's events are numbered, stored and sent to the thread's group.

Order of work for every event: assign the next `seq`, INSERT it, then `group_send` it. Storing before
sending is what lets a client read the stored events, subscribe, and miss nothing (see
`threads.api.follow`). Token deltas are coalesced BEFORE they get a `seq`, so the live stream and the
stored one are the same events: the first delta of a message goes out at once (time to first token), later
ones are merged for up to `DELTA_WINDOW_SECONDS` or `DELTA_MAX_CHARS`.

A terminal event is written in the same transaction as the run's final status, and only while the run is
still active, so a run gets exactly one terminal event even when recovery, a cancel of a queued run or a
thread deletion ends it from another process.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from threads.engine.events import MESSAGE_DELTA, TERMINAL_EVENT_TYPES, Event
from threads.models import Run, RunEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")

DELTA_WINDOW_SECONDS = 0.05
DELTA_MAX_CHARS = 400
TERMINAL_INSERT_ATTEMPTS = 5


# The channel layer alias of run events (settings.CHANNEL_LAYERS): pub/sub on Redis, kept apart from the
# `default` layer that hands runs to workers.
EVENTS_LAYER = "events"


class RunSuperseded(Exception):
    """The run was ended (or deleted) by someone else: this executor must stop without another event."""


def thread_group(thread_id: UUID | str) -> str:
    return f"thread.{thread_id}"


def events_layer() -> Any:
    """The channel layer that carries run events to the thread groups."""
    return get_channel_layer(EVENTS_LAYER)


def event_build(*, type: str, thread_id: UUID | str, run_id: UUID | str, seq: int, **fields: Any) -> Event:
    return {
        "type": type,
        "thread_id": str(thread_id),
        "run_id": str(run_id),
        "seq": seq,
        "created_at": timezone.now().isoformat().replace("+00:00", "Z"),
        **fields,
    }


async def event_broadcast(event: Event) -> None:
    """Send a stored event to its thread's group. A channel layer failure loses only the live copy:
    the event is stored, and followers fill gaps from the store."""
    try:
        await events_layer().group_send(
            thread_group(event["thread_id"]), {"type": "run.event", "event": event}
        )
    except Exception:
        logger.warning("Could not send event %s #%s of run %s", event["type"], event["seq"], event["run_id"])


def event_broadcast_sync(event: Event) -> None:
    async_to_sync(event_broadcast)(event)


def connection_release() -> None:
    """Give this thread's database connection back to the pool (Postgres with `DATABASE_POOL_MAX_SIZE`).

    A run lives for seconds or minutes, almost all of it waiting on the LLM or a tool: holding a pooled
    connection meanwhile would let a handful of runs starve every other request. Without a pool (SQLite,
    or pooling turned off) the connection is kept: reopening it would cost more than it saves."""
    if connection.connection is None or connection.in_atomic_block:
        return
    if getattr(connection, "pool", None) is not None:
        connection.close()


def _events_store(run_id: UUID, events: list[Event]) -> None:
    """Store events of one run in one statement (one transaction: all or none)."""
    try:
        rows = [RunEvent(run_id=run_id, seq=e["seq"], type=e["type"], payload=e) for e in events]
        if len(rows) == 1:
            rows[0].save(force_insert=True)
        else:
            with transaction.atomic():
                RunEvent.objects.bulk_create(rows)
    except IntegrityError as exc:
        # Another writer took this seq (a terminal event) or the run is gone: it is no longer ours.
        raise RunSuperseded(str(run_id)) from exc


def _events_insert(run_id: UUID, events: list[Event]) -> None:
    try:
        _events_store(run_id, events)
    finally:
        connection_release()


def run_terminate(
    *,
    run_id: UUID,
    thread_id: UUID,
    type: str,
    fields: dict[str, Any],
    updates: dict[str, Any],
    where: Q | None = None,
    preceding: list[Event] | None = None,
) -> Event | None:
    """End an active run (that also matches `where`): set its final status (`updates`) and store its
    terminal event, atomically. Returns the event to broadcast after commit, or None when the run had
    already ended (or no longer matches).

    `preceding`: the executor's own last events (numbered, not yet stored), stored in the same transaction
    just before the terminal event; the caller broadcasts them first. Their seq taken means the run is no
    longer the caller's: nothing is written and `RunSuperseded` is raised."""
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
        seq_hint = None
        if preceding:
            try:
                with transaction.atomic():
                    RunEvent.objects.bulk_create(
                        RunEvent(run_id=run_id, seq=e["seq"], type=e["type"], payload=e) for e in preceding
                    )
            except IntegrityError as exc:
                raise RunSuperseded(str(run_id)) from exc
            seq_hint = preceding[-1]["seq"] + 1
        return _terminal_event_insert(
            run_id=run_id, thread_id=thread_id, type=type, fields=fields, seq_hint=seq_hint
        )


def _run_terminate_released(**kwargs: Any) -> Event | None:
    try:
        return run_terminate(**kwargs)
    finally:
        connection_release()


def _terminal_event_insert(
    *, run_id: UUID, thread_id: UUID, type: str, fields: dict[str, Any], seq_hint: int | None = None
) -> Event:
    """Store the terminal event after the last one. An executor of the run may be storing an event at the
    same moment: its seq wins, and ours takes the next (its later events then find their seq taken and stop,
    see `RunSuperseded`). `seq_hint`: the seq the caller expects to be next (it just stored the one before),
    tried first to save reading the last one."""
    for _ in range(TERMINAL_INSERT_ATTEMPTS):
        if seq_hint is not None:
            next_seq, seq_hint = seq_hint, None
        else:
            next_seq = (RunEvent.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"] or 0) + 1
        event = event_build(type=type, thread_id=thread_id, run_id=run_id, seq=next_seq, **fields)
        try:
            with transaction.atomic():
                RunEvent.objects.create(run_id=run_id, seq=event["seq"], type=type, payload=event)
        except IntegrityError:
            continue
        return event
    raise RuntimeError(f"Could not store the terminal event of run {run_id}.")


class RunPublisher:
    """Publishes one run's events from the process that executes it. Safe to call from concurrent tasks
    of that run (tool calls finish in any order); one lock keeps `seq` and the store in step."""

    def __init__(self, *, run_id: UUID, thread_id: UUID, next_seq: int):
        self.run_id = run_id
        self.thread_id = thread_id
        self._next_seq = next_seq
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
        one transaction: one commit instead of two, and no event without its row or row without its event.
        Returns what `store` returned and the event, sent after the commit."""
        async with self._lock:
            ready = self._take_pending()
            if self.ended:
                raise RunSuperseded(str(self.run_id))

            def step() -> tuple[T, list[Event]]:
                try:
                    with transaction.atomic():
                        result = store()
                        events = self._number([*ready, (type, fields(result))])
                        _events_store(self.run_id, events)
                    return result, events
                finally:
                    connection_release()

            result, events = await sync_to_async(step)()
            for event in events:
                await event_broadcast(event)
            return result, events[-1]

    async def delta(self, text: str) -> None:
        if not text:
            return
        self._raise_flush_error()
        async with self._lock:
            if not self._message_streaming and not self._pending:
                self._message_streaming = True
                await self._send(MESSAGE_DELTA, {"delta": text})
                return
            self._pending.append(text)
            self._pending_chars += len(text)
            if self._pending_chars >= DELTA_MAX_CHARS:
                await self._flush_pending()
            elif self._flush_task is None:
                self._flush_task = asyncio.create_task(self._flush_later())

    async def flush(self) -> None:
        async with self._lock:
            await self._flush_pending()

    async def terminate(self, type: str, *, fields: dict[str, Any], updates: dict[str, Any]) -> Event | None:
        """Flush what is pending, then end the run with its terminal event (None: someone else ended it)."""
        await self._stop_flush_task()
        async with self._lock:
            if self.ended:
                return None
            # Pending deltas are stored in the terminal event's transaction (one commit for both).
            preceding = self._number(self._take_pending())
            try:
                event = await sync_to_async(_run_terminate_released)(
                    run_id=self.run_id,
                    thread_id=self.thread_id,
                    type=type,
                    fields=fields,
                    updates=updates,
                    preceding=preceding,
                )
            except RunSuperseded:
                event = None
            self.ended = True
            if event is not None:
                self._next_seq = event["seq"] + 1
                for stored in [*preceding, event]:
                    await event_broadcast(stored)
            return event

    async def close(self) -> None:
        await self._stop_flush_task()

    async def _send(self, type: str, fields: dict[str, Any]) -> Event:
        return (await self._send_all([(type, fields)]))[0]

    async def _send_all(self, ready: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Number, store (one INSERT for all) and only then send events that are ready together."""
        if self.ended:
            raise RunSuperseded(str(self.run_id))
        events = self._number(ready)
        await sync_to_async(_events_insert)(self.run_id, events)
        for event in events:
            await event_broadcast(event)
        return events

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
