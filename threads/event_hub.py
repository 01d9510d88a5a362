"""One subscription per process: the hub of an event loop listens on the `events` channel layer through a
single channel, joins a thread's group while anything in the process follows that thread, and fans each
event out to the local followers (websockets, SSE streams, /v1/chat waits).

The events this event loop publishes itself reach its followers directly (`events_broadcast`), and come
back from the channel layer only to be skipped (they carry the hub's `origin`).

A follower's queue is bounded: one that falls behind loses live events, never blocks the others, and fills
the gap from the store when it notices the jump in `seq` (`threads.follow`).
"""

import asyncio
import contextvars
import logging
import threading
import uuid
import weakref
from typing import Any
from uuid import UUID

from threads.engine.broadcast import (
    RUN_EVENT,
    RUN_EVENTS,
    events_layer,
    local_followers_register,
    thread_group,
)
from threads.engine.events import Event

logger = logging.getLogger(__name__)

SUBSCRIPTION_QUEUE_MAX = 1000
RECEIVE_RETRY_SECONDS = 0.5


class Subscription:
    """The live events of one thread for one follower. `subscribe` returns once every event published
    afterwards is sure to arrive here (unless the queue overflows)."""

    def __init__(self, hub: "EventHub", group: str):
        self.hub = hub
        self.group = group
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=SUBSCRIPTION_QUEUE_MAX)
        self.closed = False

    async def get(self) -> Event:
        return await self.queue.get()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.hub.unsubscribe(self)


class EventHub:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.origin = uuid.uuid4().hex
        self.layer = events_layer()
        self.channel: str | None = None
        # Weak: a subscription its follower dropped without closing (a stream never started) goes away.
        self.followers: dict[str, weakref.WeakSet[Subscription]] = {}
        # Joining and leaving groups one at a time keeps `group_add` and `group_discard` in order.
        self._membership = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        local_followers_register(loop, self)

    async def subscribe(self, thread_id: UUID | str) -> Subscription:
        subscription = Subscription(self, thread_group(thread_id))
        async with self._membership:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            if self._task is None or self._task.done():
                self._task = self.loop.create_task(self._receive_forever(), context=contextvars.Context())
            members = self.followers.get(subscription.group)
            if members is None:
                await self.layer.group_add(subscription.group, self.channel)
                members = self.followers[subscription.group] = weakref.WeakSet()
            members.add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        async with self._membership:
            members = self.followers.get(subscription.group)
            if members is None:
                return
            members.discard(subscription)
            if not members:
                del self.followers[subscription.group]
                if self.channel is not None:
                    try:
                        await self.layer.group_discard(subscription.group, self.channel)
                    except Exception as exc:
                        logger.warning("Could not leave %s: %s", subscription.group, type(exc).__name__)

    def fan_out(self, event: Event) -> None:
        for subscription in list(self.followers.get(thread_group(event["thread_id"]), ())):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # Left behind: it notices the gap in `seq` at the next event it does get.
                continue

    async def _receive_forever(self) -> None:
        while True:
            try:
                message: dict[str, Any] = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Followers fill from the store meanwhile (they check it at every keep-alive).
                logger.warning("Receiving run events failed: %s", type(exc).__name__)
                await asyncio.sleep(RECEIVE_RETRY_SECONDS)
                continue
            self.receive_message(message)

    def receive_message(self, message: dict[str, Any]) -> None:
        """A channel layer message: events to fan out, unless this hub published them (its followers
        have them already)."""
        if message.get("origin") == self.origin:
            return
        if message.get("type") == RUN_EVENTS and isinstance(message.get("events"), list):
            for event in message["events"]:
                if isinstance(event, dict):
                    self.fan_out(event)
        elif message.get("type") == RUN_EVENT and isinstance(message.get("event"), dict):
            self.fan_out(message["event"])


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventHub]" = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def event_hub() -> EventHub:
    """The hub of the running event loop."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        found = _hubs.get(loop)
        if found is None:
            found = _hubs[loop] = EventHub(loop)
    return found
