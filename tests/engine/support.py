"""Helpers of the engine tests: start a run, wait for it, and follow its events through the thread's group,
as a websocket would."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async

from threads import executors, services
from threads.engine.broadcast import events_layer, thread_group
from threads.engine.events import TERMINAL_EVENT_TYPES
from threads.models import Run, Thread
from threads.selectors import run_events_after

STOP = "listener.stop"


class GroupListener:
    """Everything published to a thread's group, collected by a background task, as a websocket sees it."""

    def __init__(self, thread_id: Any):
        self.group = thread_group(thread_id)
        self.events: list[dict[str, Any]] = []
        self.terminal = asyncio.Event()
        self.first_delta = asyncio.Event()
        self._layer = events_layer()
        self._channel = ""
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "GroupListener":
        # The default prefix, as consumers use: channels-redis serves the process-local channels of one
        # prefix at a time, so a second prefix in the same process would starve (or be starved).
        self._channel = await self._layer.new_channel()
        await self._layer.group_add(self.group, self._channel)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._task is not None
        # Stopped by a message rather than a cancel: cancelling a pending channels-redis receive can take
        # many seconds to settle.
        await self._layer.send(self._channel, {"type": STOP})
        await asyncio.wait_for(self._task, 10)
        await self._layer.group_discard(self.group, self._channel)

    async def _collect(self) -> None:
        while True:
            message = await self._layer.receive(self._channel)
            if message["type"] == STOP:
                return
            for event in message["events"]:
                self.events.append(event)
                if event["type"] == "message.delta":
                    self.first_delta.set()
                if event["type"] in TERMINAL_EVENT_TYPES:
                    self.terminal.set()

    async def wait_terminal(self, timeout: float = 15) -> dict[str, Any]:
        await asyncio.wait_for(self.terminal.wait(), timeout)
        return self.events[-1]

    def of_run(self, run_id: Any) -> list[dict[str, Any]]:
        return [event for event in self.events if event["run_id"] == str(run_id)]


async def run_until_done(run: Run, timeout: float = 15) -> list[dict[str, Any]]:
    """Wait for an inline run's task, then return its stored events."""
    entry = executors.supervisor().runs.get(str(run.id))
    if entry is not None:
        await asyncio.wait_for(asyncio.shield(entry[0]), timeout)
    return await sync_to_async(run_events_after)(run_id=run.id, after_seq=0)


async def start(thread: Thread, task: str, **options: Any) -> Run:
    return await services.run_start(thread=thread, task=task, options=options)


@contextlib.asynccontextmanager
async def listening(thread: Thread) -> AsyncIterator[GroupListener]:
    async with GroupListener(thread.id) as listener:
        yield listener


def assert_well_numbered(events: list[dict[str, Any]]) -> None:
    """seq from 1 without gaps, exactly one terminal event, and it is the last one."""
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    terminals = [event for event in events if event["type"] in TERMINAL_EVENT_TYPES]
    assert len(terminals) == 1
    assert events[-1] is terminals[0] or events[-1] == terminals[0]


async def refreshed(run: Run) -> Run:
    return await Run.objects.select_related("thread").aget(pk=run.pk)
