"""Events to the thread groups: how a stored event reaches every process that follows the thread.

Run events travel on the `events` channel layer (pub/sub on Redis, see settings.CHANNEL_LAYERS) as
`{"type": "run.event", "event": ...}` to the group `thread.<uuid>`. Delivery is at most once: every event
is stored before it is sent, and followers fill any gap from the store (`threads.follow`).
"""

import logging
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from threads.engine.events import Event

logger = logging.getLogger(__name__)

# The channel layer alias of run events (settings.CHANNEL_LAYERS): pub/sub on Redis, kept apart from the
# `default` layer that wakes run workers.
EVENTS_LAYER = "events"
RUN_EVENT = "run.event"


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
        await events_layer().group_send(thread_group(event["thread_id"]), {"type": RUN_EVENT, "event": event})
    except Exception:
        logger.warning("Could not send event %s #%s of run %s", event["type"], event["seq"], event["run_id"])


def event_broadcast_sync(event: Event) -> None:
    async_to_sync(event_broadcast)(event)
