"""The thread websocket (API.md, "WebSocket"): one socket per thread, runs started, cancelled and followed.

Events reach the socket through the thread's group, so a run executed by any process (a worker, another
server) shows up here. Per run, the socket remembers the last `seq` it sent: a live event already sent is
dropped, and a jump in `seq` is filled from the store, so what a client receives after `resume` has
neither duplicates nor gaps. Channels dispatches one message at a time per consumer, which is what holds
live events back while a resume replays the stored ones. A run the socket starts itself is followed from
its first event, so a client never misses the beginning of its own run.

Events come through the `events` channel layer (pub/sub on Redis, see settings.CHANNEL_LAYERS). The
database work of a handshake, a client frame or a gap fill runs on a sync thread of its own
(`own_sync_thread`), not on the one thread asgiref shares between every socket of the process.
"""

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
from threads import services
from threads.engine.events import Event
from threads.engine.publisher import EVENTS_LAYER, thread_group
from threads.inputs import RunExecuteSerializer, run_options
from threads.models import Run, Thread
from threads.selectors import run_events_after, threads_visible_to
from threads.ws_auth import own_sync_thread

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_THROTTLED = 4429


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
    channel_layer_alias = EVENTS_LAYER
    thread_id: UUID | None = None
    group: str | None = None

    async def connect(self) -> None:
        self.delivered: dict[str, int] = {}
        async with own_sync_thread():
            await self._connect()

    async def _connect(self) -> None:
        user = self.scope.get("user")
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
        self.group = thread_group(thread.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accepted first so that the client sees the close code; a refused handshake would only say 403.
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    # --- client frames --------------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.thread_id is None:
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
        handlers = {"message": self.start_run, "cancel": self.cancel_run, "resume": self.resume_run}
        handler = handlers.get(content["type"])
        if handler is None:
            await self.send_error(
                "unknown_type", f"Unknown frame type '{content['type']}'; use message, cancel or resume."
            )
            return
        try:
            async with own_sync_thread():
                await handler(content)
        except DomainError as exc:
            await self.send_json({"type": "error", "error": exc.as_error()})
        except Exception:
            logger.exception("websocket %s frame failed on thread %s", content["type"], self.thread_id)
            await self.send_error("internal_error", "The server could not handle this frame.")

    async def start_run(self, frame: dict[str, Any]) -> None:
        data = {key: value for key, value in frame.items() if key not in ("type", "content")}
        data["task"] = frame.get("content")
        thread, options = await database_sync_to_async(_run_request)(self.thread_id, data)
        run = await services.run_start(thread=thread, task=options["task"], options=run_options(options))
        # Followed from its first event: the live events that got lost (or arrive out of turn) are then
        # filled from the store. Group events queue while this handler runs, so none was relayed yet.
        self.delivered.setdefault(str(run.id), 0)

    async def cancel_run(self, frame: dict[str, Any]) -> None:
        if frame.get("run_id") is not None:
            run = await database_sync_to_async(_run_of_thread)(self.thread_id, frame["run_id"])
        else:
            run = await database_sync_to_async(_active_run)(self.thread_id)
        await services.arun_cancel(run=run)

    async def resume_run(self, frame: dict[str, Any]) -> None:
        after = frame.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ValidationFailed(
                "Invalid resume point.", fields={"after": ["Must be a non-negative integer."]}
            )
        run = await database_sync_to_async(_run_of_thread)(self.thread_id, frame.get("run_id"))
        run_id = str(run.id)
        self.delivered[run_id] = after
        for event in await database_sync_to_async(run_events_after)(run_id=run.id, after_seq=after):
            await self._deliver(run_id, event)

    # --- group events ---------------------------------------------------------------------------

    async def run_event(self, message: dict[str, Any]) -> None:
        """A `run.event` from the thread's group: relayed unless already sent, after any events it skips."""
        event: Event = message["event"]
        run_id = str(event.get("run_id"))
        last = self.delivered.get(run_id)
        if last is not None and event["seq"] <= last:
            return
        if last is not None and event["seq"] > last + 1:
            async with own_sync_thread():
                missed = await database_sync_to_async(run_events_after)(run_id=UUID(run_id), after_seq=last)
            for stored in missed:
                if stored["seq"] < event["seq"]:
                    await self._deliver(run_id, stored)
        await self._deliver(run_id, event)

    async def _deliver(self, run_id: str, event: Event) -> None:
        if event["seq"] <= self.delivered.get(run_id, 0):
            return
        self.delivered[run_id] = event["seq"]
        await self.send_json(event)

    async def send_error(self, code: str, message: str, fields: dict[str, Any] | None = None) -> None:
        await self.send_json({"type": "error", **error_body(code, message, fields)})

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)
