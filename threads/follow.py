"""Following runs' events: the stored ones first, then the live ones, each exactly once and in order. One
implementation for the SSE stream, /v1/chat and the websocket.

The order of the steps is what makes it lossless: a follower subscribes to the thread (`threads.event_hub`)
BEFORE it reads the store, and the writer stores an event before it publishes it, so every event is
either in the store when it is read or arrives live afterwards (or both: then `seq` tells the duplicate).
A jump in `seq` (an event the channel layer dropped, or a follower that fell behind) is filled from the
store.
"""

import asyncio
import time
from collections.abc import AsyncGenerator
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings

from threads.engine.db import connection_release
from threads.engine.events import TERMINAL_EVENT_TYPES, Event, is_terminal
from threads.event_hub import Subscription, event_hub
from threads.models import Run, RunEvent
from threads.selectors import run_events_after


def _stored_after(run_id: UUID, after_seq: int) -> list[Event]:
    try:
        return run_events_after(run_id=run_id, after_seq=after_seq)
    finally:
        # A follower waits for seconds or minutes between reads: its pooled connection goes back.
        connection_release()


def _stored_after_and_ended(run_id: UUID, after_seq: int) -> tuple[list[Event], bool]:
    """The stored events after `after_seq`, and whether nothing more can come: the terminal event is at or
    before `after_seq`, or the run is gone (its thread was deleted)."""
    try:
        events = run_events_after(run_id=run_id, after_seq=after_seq)
        ended = not Run.objects.filter(pk=run_id).exists() or (
            RunEvent.objects.filter(run_id=run_id, type__in=TERMINAL_EVENT_TYPES, seq__lte=after_seq).exists()
        )
        return events, ended
    finally:
        connection_release()


async def events_stored_after(run_id: UUID | str, after_seq: int) -> list[Event]:
    return await sync_to_async(_stored_after, thread_sensitive=False)(UUID(str(run_id)), after_seq)


class EventCursor:
    """What one client was sent, per run: the last `seq`. Turns stored and live events into the ones to
    send, without duplicates, and with the gaps before a live event filled from the store."""

    def __init__(self) -> None:
        self.delivered: dict[str, int] = {}

    def follow(self, run_id: UUID | str, after_seq: int = 0) -> None:
        """Follow a run from after `after_seq` (kept when the run is already followed further)."""
        self.delivered.setdefault(str(run_id), after_seq)

    def stored(self, run_id: UUID | str, events: list[Event]) -> list[Event]:
        """The stored `events` of a run not sent yet, marked as sent."""
        key = str(run_id)
        fresh = []
        for event in events:
            if event["seq"] > self.delivered.get(key, 0):
                self.delivered[key] = event["seq"]
                fresh.append(event)
        return fresh

    async def replay(self, run_id: UUID | str, after_seq: int) -> list[Event]:
        """Start (again) after `after_seq`: the stored events from there on."""
        self.delivered[str(run_id)] = after_seq
        return self.stored(run_id, await events_stored_after(run_id, after_seq))

    async def live(self, event: Event, *, any_run: bool) -> list[Event]:
        """What to send for a live event: nothing (sent already, or a run not followed unless `any_run`),
        or the event after the stored ones it skips."""
        key = str(event.get("run_id"))
        last = self.delivered.get(key)
        if last is None:
            if not any_run:
                return []
            # A run this client has not followed so far: joined where it is.
            self.delivered[key] = event["seq"]
            return [event]
        if event["seq"] <= last:
            return []
        missed: list[Event] = []
        if event["seq"] > last + 1:
            missed = [e for e in await events_stored_after(key, last) if e["seq"] < event["seq"]]
        return self.stored(key, [*missed, event])


class RunFollower:
    """`async for item in RunFollower(...)`: one run's events (dicts) in `seq` order, and `None` whenever a
    keep-alive is due (at least every `heartbeat_seconds`); ends after the terminal event.

    The subscription is dropped however the iteration ends (finished, client gone, task cancelled).
    """

    def __init__(
        self,
        *,
        thread_id: UUID,
        run_id: UUID,
        after_seq: int = 0,
        heartbeat_seconds: float | None = None,
        subscription: Subscription | None = None,
    ):
        """`subscription`: the thread's, made before the run was created, so that every event of the run
        arrives live (gaps aside) and the store need not be read first."""
        self.thread_id = thread_id
        self.subscription = subscription
        self.run_id = str(run_id)
        self.cursor = EventCursor()
        self.cursor.follow(run_id, after_seq)
        self.heartbeat_seconds = heartbeat_seconds or settings.SSE_PING_SECONDS
        self.finished = False

    async def __aiter__(self) -> AsyncGenerator[Event | None]:
        subscription = self.subscription
        if subscription is None:
            subscription = await event_hub().subscribe(self.thread_id)
            from_store = True
        else:
            from_store = self.cursor.delivered[self.run_id] > 0
        try:
            if from_store:
                for event in await self._catch_up():
                    yield event
            if self.finished:
                return
            next_ping = time.monotonic() + self.heartbeat_seconds
            while True:
                try:
                    # A timeout scope, not `wait_for`, which would wrap every wait in a task of its own.
                    async with asyncio.timeout(max(0.0, next_ping - time.monotonic())):
                        live = await subscription.get()
                except TimeoutError:
                    next_ping = time.monotonic() + self.heartbeat_seconds
                    yield None
                    # A quiet run: make sure it did not end while its last events got lost in transit.
                    for event in await self._catch_up():
                        yield event
                    if self.finished:
                        return
                    continue
                for event in await self.cursor.live(live, any_run=False):
                    yield event
                    if is_terminal(event):
                        return
        finally:
            await subscription.close()

    async def _catch_up(self) -> list[Event]:
        """Stored events after the last one delivered; sets `finished` when nothing more can come."""
        after = self.cursor.delivered[self.run_id]
        events, ended = await sync_to_async(_stored_after_and_ended, thread_sensitive=False)(
            UUID(self.run_id), after
        )
        fresh = self.cursor.stored(self.run_id, events)
        self.finished = self.finished or ended or any(is_terminal(e) for e in fresh)
        return fresh
