"""The run worker: `python manage.py runworker runs` consumes the `runs` channel with this consumer
(wired in `orchestrator_studio/asgi.py` through `ChannelNameRouter`).

The queued Run rows are the queue: the worker claims them from the database (`threads.executors`) when it
starts, when a `run.execute` message wakes it, and at every sweep, so a lost or expired message only delays
a run. Each claimed run is a task of its own, so one worker executes many runs at once (up to
`RUN_EXECUTOR_MAX_RUNS`). Cancels, heartbeats and recovery work as for the inline executor.
"""

from typing import Any

from channels.consumer import AsyncConsumer

from threads.executors import scheduling_start, supervisor


class RunWorkerConsumer(AsyncConsumer):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The worker's start: sweep for orphaned runs and claim the queued ones, then at every interval.
        scheduling_start(claims_queued=True)
        await super().__call__(scope, receive, send)

    async def run_execute(self, message: dict[str, Any]) -> None:
        """A wake-up: whichever run it names, the worker claims the oldest queued runs."""
        supervisor().wake()
