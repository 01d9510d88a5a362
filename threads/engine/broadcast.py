"""Events to the thread groups: how a stored event reaches every process that follows the thread.

Events published together (a flush of the event writer) go out as one message per thread: to the
followers in the publishing event loop at once (its hub, `threads.event_hub`, registers here), and on the
`events` channel layer (pub/sub on Redis, see settings.CHANNEL_LAYERS) as
`{"type": "run.events", "events": [...], "origin": ...}` to the group `thread.<uuid>` for every other
process (the publishing hub skips its own). Delivery is at most once: every event is stored before it is
sent, and followers fill any gap from the store (`threads.follow`).
"""

import asyncio
import logging
import weakref
from typing import Any, Protocol
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from threads.engine.events import Event

logger = logging.getLogger(__name__)

# The channel layer alias of run events (settings.CHANNEL_LAYERS): pub/sub on Redis, kept apart from the
# `default` layer that wakes run workers.
EVENTS_LAYER = "events"
RUN_EVENTS = "run.events"
# One event alone: what a process before batched publishing sent (still understood while they run).
RUN_EVENT = "run.event"


class LocalFollowers(Protocol):
    """The followers of one event loop (its event hub): fed directly by what that loop publishes."""

    origin: str

    def fan_out(self, event: Event) -> None: ...


_local: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalFollowers]" = weakref.WeakKeyDictionary()


def local_followers_register(loop: asyncio.AbstractEventLoop, followers: LocalFollowers) -> None:
    _local[loop] = followers


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


async def events_broadcast(events: list[Event]) -> None:
    """Send stored events (in order) to their threads' groups: this event loop's followers get them at once,
    other processes one channel layer message per thread. A channel layer failure loses only the live
    copies: the events are stored, and followers fill gaps from the store."""
    local = _local.get(asyncio.get_running_loop())
    if local is not None:
        for event in events:
            local.fan_out(event)
    by_thread: dict[str, list[Event]] = {}
    for event in events:
        by_thread.setdefault(event["thread_id"], []).append(event)
    message = {"type": RUN_EVENTS, "origin": local.origin if local is not None else ""}
    for thread_id, batch in by_thread.items():
        try:
            await events_layer().group_send(thread_group(thread_id), {**message, "events": batch})
        except Exception:
            logger.warning("Could not send %d events of thread %s", len(batch), thread_id)


async def event_broadcast(event: Event) -> None:
    await events_broadcast([event])


def event_broadcast_sync(event: Event) -> None:
    async_to_sync(event_broadcast)(event)
