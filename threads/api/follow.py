"""Following one run's events: the stored ones first, then the live ones, each exactly once and in order.

Used by the SSE stream and /v1/chat. The order of the steps is what makes it lossless: the follower joins
the thread's group BEFORE it reads the store, and the publisher stores an event before it sends it, so
every event is either in the store when it is read or arrives on the channel afterwards (or both: then
`seq` tells the duplicate). A jump in `seq` (a message the channel layer dropped) is filled from the store.
"""

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings

from threads.engine.events import TERMINAL_EVENT_TYPES, Event, is_terminal
from threads.engine.publisher import connection_release, events_layer, thread_group
from threads.models import Run, RunEvent
from threads.selectors import run_events_after


def _stored_after(run_id: UUID, after_seq: int) -> tuple[list[Event], bool]:
    """The stored events after `after_seq`, and whether nothing more can come: the terminal event is at or
    before `after_seq`, or the run is gone (its thread was deleted)."""
    events = run_events_after(run_id=run_id, after_seq=after_seq)
    ended = not Run.objects.filter(pk=run_id).exists() or (
        RunEvent.objects.filter(run_id=run_id, type__in=TERMINAL_EVENT_TYPES, seq__lte=after_seq).exists()
    )
    # A follower waits for seconds or minutes between reads: its request's pooled connection goes back.
    connection_release()
    return events, ended


class RunFollower:
    """`async for item in RunFollower(...)`: events (dicts) in `seq` order, and `None` whenever a keep-alive
    is due (at least every `heartbeat_seconds`); ends after the terminal event.

    The group membership is dropped however the iteration ends (finished, client gone, task cancelled).
    """

    def __init__(
        self, *, thread_id: UUID, run_id: UUID, after_seq: int = 0, heartbeat_seconds: float | None = None
    ):
        self.thread_id = thread_id
        self.run_id = str(run_id)
        self.last_seq = after_seq
        self.heartbeat_seconds = heartbeat_seconds or settings.SSE_PING_SECONDS
        self.finished = False

    async def __aiter__(self) -> AsyncGenerator[Event | None]:
        layer = events_layer()
        channel = await layer.new_channel()
        group = thread_group(self.thread_id)
        await layer.group_add(group, channel)
        receiving: asyncio.Future[dict[str, Any]] | None = None
        try:
            async for event in self._catch_up():
                yield event
            if self.finished:
                return
            next_ping = time.monotonic() + self.heartbeat_seconds
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(layer.receive(channel))
                done, _ = await asyncio.wait({receiving}, timeout=max(0.0, next_ping - time.monotonic()))
                if time.monotonic() >= next_ping:
                    next_ping = time.monotonic() + self.heartbeat_seconds
                    yield None
                    if not done:
                        # A quiet run: make sure it did not end while its last events got lost in transit.
                        async for event in self._catch_up():
                            yield event
                        if self.finished:
                            return
                if not done:
                    continue
                message, receiving = receiving.result(), None
                event = (message.get("event") or {}) if message.get("type") == "run.event" else {}
                if (
                    not event
                    or str(event.get("run_id")) != self.run_id
                    or event.get("seq", 0) <= self.last_seq
                ):
                    continue
                if event["seq"] > self.last_seq + 1:
                    async for stored in self._catch_up(before=event["seq"]):
                        yield stored
                self.last_seq = event["seq"]
                yield event
                if is_terminal(event):
                    return
        finally:
            if receiving is not None:
                receiving.cancel()
            await layer.group_discard(group, channel)

    async def _catch_up(self, before: int | None = None) -> AsyncIterator[Event]:
        """Stored events after the last one delivered (and before `before`); sets `finished` at the end."""
        events, ended = await sync_to_async(_stored_after)(UUID(self.run_id), self.last_seq)
        self.finished = self.finished or ended
        for event in events:
            if before is not None and event["seq"] >= before:
                break
            if event["seq"] <= self.last_seq:
                continue
            self.last_seq = event["seq"]
            self.finished = self.finished or is_terminal(event)
            yield event
