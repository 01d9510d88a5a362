"""The thread websocket (API.md, "WebSocket"): one socket per thread, runs started, cancelled and followed.

Events reach the socket through the process's event hub (one subscription per process, `threads.event_hub`),
so a run executed by any process (a worker, another server) shows up here. The socket's `EventCursor`
(`threads.follow`, shared with SSE and /v1/chat) remembers per run the last `seq` it sent: a live event
already sent is dropped, and a jump in `seq` is filled from the store, so what a client receives after
`resume` has neither duplicates nor gaps. One lock per socket holds live events back while a resume
replays the stored ones or a run starts: a run the socket starts itself is followed from its first event,
so a client never misses the beginning of its own run.

The database work of a handshake or a client frame runs on a sync thread of its own (`own_sync_thread`),
not on the one thread asgiref shares between every socket of the process. When the database (or Redis) is
down, or every connection of the process's pool is in use, a frame is answered with the error the REST API
gives as a 503 (`database_unavailable`, ...) and the socket stays open; a handshake is accepted to send that
error, then closed with 1013 (try again later).
"""

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder

from orchestrator_studio.errors import DomainError, NotFound, ValidationFailed, error_body
from orchestrator_studio.inputs import validated
from orchestrator_studio.json_limits import loads_bounded
from orchestrator_studio.outages import outage_error
from threads import services
from threads.approvals import decisions_parse
from threads.engine.events import Event
from threads.event_hub import Subscription, event_hub
from threads.follow import EventCursor
from threads.frame_budget import FrameBudget
from threads.inputs import RunExecuteSerializer, run_options
from threads.models import Run, Thread
from threads.selectors import threads_visible_to
from threads.ws_auth import own_sync_thread

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_THROTTLED = 4429
# RFC 6455's "Try Again Later": a dependency of the server is down or saturated.
CLOSE_TRY_AGAIN_LATER = 1013


def _thread_for_socket(user: AbstractBaseUser, raw_id: str) -> tuple[Thread | None, int | None]:
    """The thread, or the close code that says why the socket may not have it."""
    try:
        thread_id = UUID(raw_id)
    except ValueError:
        return None, CLOSE_NOT_FOUND
    thread = Thread.objects.filter(pk=thread_id).first()
    if thread is None:
        return None, CLOSE_NOT_FOUND
    if not threads_visible_to(user).filter(pk=thread_id).exists():
        return None, CLOSE_FORBIDDEN
    return thread, None


def _run_request(thread_id: UUID, data: dict[str, Any]) -> tuple[Thread, dict[str, Any]]:
    """The socket's thread and the validated `message` frame, in one trip to a sync thread."""
    try:
        options = validated(RunExecuteSerializer, data)
    except ValidationFailed as exc:
        fields = {("content" if k == "task" else k): v for k, v in (exc.fields or {}).items()}
        raise ValidationFailed(exc.message, fields=fields) from None
    thread = Thread.objects.filter(pk=thread_id).first()
    if thread is None:
        raise NotFound("The thread no longer exists.")
    return thread, options


def _run_of_thread(thread_id: UUID, raw_run_id: Any) -> Run:
    try:
        run_id = UUID(str(raw_run_id))
    except ValueError:
        raise ValidationFailed(
            "'run_id' must be a run's id.", fields={"run_id": ["Not a valid UUID."]}
        ) from None
    run = Run.objects.filter(pk=run_id, thread_id=thread_id).first()
    if run is None:
        raise NotFound("No such run in this thread.")
    return run


def _active_run(thread_id: UUID) -> Run:
    run = Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE_STATUSES).first()
    if run is None:
        raise DomainError("There is no active run to cancel.", code="no_active_run")
    return run


class ThreadConsumer(AsyncJsonWebsocketConsumer):
    # No channel of its own on any layer: run events come from the process's hub (`threads.event_hub`).
    channel_layer_alias = "none"
    thread_id: UUID | None = None
    subscription: Subscription | None = None

    async def connect(self) -> None:
        self.cursor = EventCursor()
        self.budget = FrameBudget()
        self.relaying = asyncio.Lock()
        self.relay: asyncio.Task[None] | None = None
        async with own_sync_thread():
            try:
                await self._connect()
            except Exception as exc:
                outage = outage_error(exc)
                if outage is None:
                    raise
                await self._refuse_unavailable(outage)

    async def _connect(self) -> None:
        user = self.scope.get("user")
        if self.scope.get("outage") is not None:
            await self._refuse_unavailable(self.scope["outage"])
            return
        if self.scope.get("auth_retry_after"):
            await self._refuse(CLOSE_THROTTLED)
            return
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        raw_id = self.scope["url_route"]["kwargs"]["thread_id"]
        thread, refusal = await database_sync_to_async(_thread_for_socket)(user, raw_id)
        if thread is None:
            await self._refuse(refusal or CLOSE_NOT_FOUND)
            return
        self.thread_id = thread.id
        self.subscription = await event_hub().subscribe(thread.id)
        self.relay = asyncio.create_task(self._relay(self.subscription))
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accepted first so that the client sees the close code; a refused handshake would only say 403.
        await self.accept()
        await self.close(code=code)

    async def _refuse_unavailable(self, outage: DomainError) -> None:
        logger.warning("websocket handshake of thread %s refused: %s", self.thread_id, outage.code)
        if self.subscription is not None:
            await self.subscription.close()
            self.subscription = None
        await self.accept()
        await self.send_json({"type": "error", "error": outage.as_error()})
        await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def disconnect(self, code: int) -> None:
        if self.relay is not None:
            self.relay.cancel()
            await asyncio.gather(self.relay, return_exceptions=True)
            self.relay = None
        if self.subscription is not None:
            await self.subscription.close()
            self.subscription = None

    # --- client frames --------------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.thread_id is None:
            return
        if not self.budget.take():
            if self.budget.flooding:
                await self.close(code=CLOSE_THROTTLED)
                return
            await self.send_error(
                "rate_limited",
                f"Too many frames: at most {self.budget.rate:g} a second (bursts of {self.budget.burst:g}); "
                "this one was ignored.",
            )
            return
        if text_data is None:
            await self.send_error("bad_frame", "Send JSON text frames, not binary ones.")
            return
        try:
            content = loads_bounded(text_data)
        except ValueError:
            await self.send_error("bad_frame", "The frame is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("bad_frame", 'A frame is a JSON object with a "type".')
            return
        handlers = {
            "message": self.start_run,
            "cancel": self.cancel_run,
            "resume": self.resume_run,
            "approve": self.approve_calls,
        }
        handler = handlers.get(content["type"])
        if handler is None:
            await self.send_error(
                "unknown_type",
                f"Unknown frame type '{content['type']}'; use message, cancel, resume or approve.",
            )
            return
        try:
            async with own_sync_thread():
                await handler(content)
        except DomainError as exc:
            await self.send_json({"type": "error", "error": exc.as_error()})
        except Exception as exc:
            outage = outage_error(exc)
            if outage is not None:
                logger.warning(
                    "websocket %s frame of thread %s: %s", content["type"], self.thread_id, outage.code
                )
                await self.send_json({"type": "error", "error": outage.as_error()})
                return
            logger.exception("websocket %s frame failed on thread %s", content["type"], self.thread_id)
            await self.send_error("internal_error", "The server could not handle this frame.")

    async def start_run(self, frame: dict[str, Any]) -> None:
        data = {key: value for key, value in frame.items() if key not in ("type", "content")}
        data["task"] = frame.get("content")
        thread, options = await database_sync_to_async(_run_request)(self.thread_id, data)
        async with self.relaying:
            run = await services.run_start(thread=thread, task=options["task"], options=run_options(options))
            # Followed from its first event: live events wait for the lock, so none was relayed yet; the
            # ones that got lost (or arrive out of turn) are then filled from the store.
            self.cursor.follow(run.id)

    async def cancel_run(self, frame: dict[str, Any]) -> None:
        if frame.get("run_id") is not None:
            run = await database_sync_to_async(_run_of_thread)(self.thread_id, frame["run_id"])
        else:
            run = await database_sync_to_async(_active_run)(self.thread_id)
        await services.arun_cancel(run=run)

    async def approve_calls(self, frame: dict[str, Any]) -> None:
        """`{"type": "approve", "run_id", "decisions": [...]}`: the events it leads to reach every socket."""
        decisions = decisions_parse(frame.get("decisions"))
        run = await database_sync_to_async(_run_of_thread)(self.thread_id, frame.get("run_id"))
        await services.arun_approve(run=run, user=self.scope["user"], decisions=decisions)

    async def resume_run(self, frame: dict[str, Any]) -> None:
        after = frame.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ValidationFailed(
                "Invalid resume point.", fields={"after": ["Must be a non-negative integer."]}
            )
        run = await database_sync_to_async(_run_of_thread)(self.thread_id, frame.get("run_id"))
        async with self.relaying:
            for event in await self.cursor.replay(run.id, after):
                await self.send_json(event)

    # --- live events ----------------------------------------------------------------------------

    async def _relay(self, subscription: Subscription) -> None:
        """Live events of the thread: relayed unless already sent, after any stored events they skip."""
        while True:
            live: Event = await subscription.get()
            try:
                async with self.relaying:
                    for event in await self.cursor.live(live, any_run=True):
                        await self.send_json(event)
            except Exception as exc:
                # The store was out of reach for a gap fill: the next live event tries again.
                logger.warning(
                    "Relaying to a socket of thread %s failed: %s", self.thread_id, type(exc).__name__
                )

    async def send_error(self, code: str, message: str, fields: dict[str, Any] | None = None) -> None:
        await self.send_json({"type": "error", **error_body(code, message, fields)})

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)
