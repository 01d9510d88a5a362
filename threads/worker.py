"""The run worker: `python manage.py runworker runs` consumes the `runs` channel with this consumer
(wired in `orchestrator_studio/asgi.py` through `ChannelNameRouter`).

Each `run.execute` message becomes a task of its own, so one worker executes many runs at once; the
handler returns at once and the consumer takes the next message. Cancels, heartbeats and recovery work as
for the inline executor (`threads.executors`).
"""

import logging
from typing import Any
from uuid import UUID

from channels.consumer import AsyncConsumer

from threads.executors import run_spawn
from threads.recovery import recovery_start

logger = logging.getLogger(__name__)


class RunWorkerConsumer(AsyncConsumer):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The worker's start: sweep for runs orphaned by a worker that died, then every interval.
        recovery_start()
        await super().__call__(scope, receive, send)

    async def run_execute(self, message: dict[str, Any]) -> None:
        try:
            run_id = UUID(str(message.get("run_id")))
        except ValueError:
            logger.warning("Ignored a run.execute message without a valid run_id")
            return
        run_spawn(run_id)
