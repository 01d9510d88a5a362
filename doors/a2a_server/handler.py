"""The A2A request handler: each method translates to the threads services (`run_start`, the run's event
follower, `run_cancel`) and reads tasks from the runs (`doors.a2a_server.tasks`).

The SDK's DefaultRequestHandler is not used: it executes tasks through an in-memory registry of the
process that received the message, whereas here the run is executed by the project's executors and every
process can follow, read and cancel it through the database and the channel layer.
"""

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID, uuid4

from a2a.auth.user import User as A2AUser
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    ContentTypeNotSupportedError,
    ExtendedAgentCardNotConfiguredError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
)
from a2a.utils.task import apply_history_length, validate_history_length
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from google.protobuf.json_format import MessageToDict

from doors.a2a_server.tasks import (
    answer_artifact,
    run_view,
    struct,
    task_get,
    task_of,
    task_run,
    tasks_list,
    text_message,
)
from doors.services import (
    client_context_id,
    door_run_cancel,
    door_run_events,
    door_run_start,
    door_thread_create,
    door_thread_of,
    door_thread_of_client_context,
)
from orchestrator_studio.errors import Conflict, DomainError, NotFound
from threads.engine.events import (
    MESSAGE_DELTA,
    RUN_IN_PROGRESS,
    TOOL_CALL_COMPLETED,
    TOOL_CALL_STARTED,
    is_terminal,
)
from threads.models import Run, Thread

logger = logging.getLogger(__name__)

DOOR_METADATA = {"door": "a2a"}
# How long CancelTask waits for the run's executor (in whichever process) to end it.
CANCEL_WAIT_SECONDS = 10.0
NO_PUSH = "Push notifications are not supported: stream the task (SendStreamingMessage, SubscribeToTask)."


class DjangoUser(A2AUser):
    """The API token's user, as the SDK's call context holds it."""

    def __init__(self, user: User):
        self.django_user = user

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self.django_user.get_username()


def _caller(context: ServerCallContext) -> User:
    if not isinstance(context.user, DjangoUser):
        raise InvalidRequestError(message="Not authenticated.")
    return context.user.django_user


def _message_text(message: Message) -> str:
    """The task the message gives: its text parts (and data parts as JSON), in order."""
    texts: list[str] = []
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            texts.append(json.dumps(MessageToDict(part.data), ensure_ascii=False))
        else:
            raise ContentTypeNotSupportedError(
                message=f"Parts of type '{kind}' are not supported: send text."
            )
    text = "\n".join(texts)
    if not text.strip():
        raise InvalidParamsError(message="The message has no text.")
    return text


def _a2a_error(exc: DomainError) -> Exception:
    if isinstance(exc, NotFound):
        return InvalidParamsError(message=exc.message)
    if isinstance(exc, Conflict):
        return InvalidRequestError(
            message="This context already has a task in progress: wait for it or cancel it."
        )
    if exc.status_code >= 500:
        return InternalError(message=exc.message)
    details = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in (exc.fields or {}).items())
    return InvalidParamsError(message=f"{exc.message} {details}".strip())


def _thread_for(user: User, message: Message, task: str) -> tuple[Thread, bool]:
    """The thread of the message's context, and whether it was made for this message: one of the user's
    threads named by its id, else the user's thread of that client-chosen `contextId` (made on first use);
    a new thread without a `contextId`."""
    if message.task_id:
        raise InvalidParamsError(
            message="Tasks take one message: send a new message with the task's contextId to continue."
        )
    if not message.context_id:
        return door_thread_create(owner=user, task=task, metadata=DOOR_METADATA), True
    try:
        return door_thread_of(user=user, thread_id=UUID(message.context_id)), False
    except (ValueError, NotFound):
        thread = door_thread_of_client_context(
            owner=user, context_id=message.context_id, task=task, metadata=DOOR_METADATA
        )
        return thread, not thread.messages.exists()


def _task_now(run: Run) -> Task:
    run.refresh_from_db()
    return task_of(run_view(run))


class RunRequestHandler(RequestHandler):
    async def _start(self, params: SendMessageRequest, context: ServerCallContext) -> Run:
        user = _caller(context)
        validate_history_length(params.configuration)
        task = _message_text(params.message)
        try:
            thread, is_new = await sync_to_async(_thread_for)(user, params.message, task)
            return await door_run_start(thread=thread, task=task, options={}, thread_is_new=is_new)
        except DomainError as exc:
            raise _a2a_error(exc) from None

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        run = await self._start(params, context)
        if not params.configuration.return_immediately:
            async for _ in door_run_events(run):
                pass
        task = await sync_to_async(_task_now)(run)
        return apply_history_length(task, params.configuration)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        run = await self._start(params, context)
        first = await sync_to_async(_task_now)(run)
        yield apply_history_length(first, params.configuration)
        async for event in _relay(run):
            yield event

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        """The task as it is, then its updates from the run's first event on, live until it ends."""
        run = await sync_to_async(task_run)(user=_caller(context), task_id=params.id)
        yield await sync_to_async(_task_now)(run)
        if run.status in Run.TERMINAL_STATUSES:
            return
        async for event in _relay(run):
            yield event

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        validate_history_length(params)
        task = await sync_to_async(task_get)(user=_caller(context), task_id=params.id)
        return apply_history_length(task, params)

    async def on_list_tasks(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        validate_history_length(params)
        page = await sync_to_async(tasks_list)(user=_caller(context), params=params)
        for task in page.tasks:
            task.CopyFrom(apply_history_length(task, params))
        return page

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        run = await sync_to_async(task_run)(user=_caller(context), task_id=params.id)
        if run.status in Run.TERMINAL_STATUSES:
            raise TaskNotCancelableError(message=f"Task {params.id} has already ended ({run.status}).")
        run = await door_run_cancel(run=run)
        if run.status not in Run.TERMINAL_STATUSES:
            # The executing process (any one) ends it at its next checkpoint: wait for its terminal event.
            try:
                async with asyncio.timeout(CANCEL_WAIT_SECONDS):
                    async for _ in door_run_events(run):
                        pass
            except TimeoutError:
                logger.warning("Run %s did not end within %ss of its cancel", run.id, CANCEL_WAIT_SECONDS)
        return await sync_to_async(_task_now)(run)

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError(message=NO_PUSH)

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError(message=NO_PUSH)

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError(message=NO_PUSH)

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError(message=NO_PUSH)

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise ExtendedAgentCardNotConfiguredError(message="The public agent card is the only one.")


def _status_update(
    task_id: str, context_id: str, state: TaskState, text: str | None = None, **metadata: Any
) -> Event:
    status = TaskStatus(state=state)
    status.timestamp.GetCurrentTime()
    if text:
        status.message.CopyFrom(
            text_message(
                text=text,
                role=Role.ROLE_AGENT,
                task_id=task_id,
                context_id=context_id,
                message_id=str(uuid4()),
            )
        )
    update = TaskStatusUpdateEvent(task_id=task_id, context_id=context_id, status=status)
    if metadata:
        update.metadata.CopyFrom(struct(metadata))
    return update


async def _relay(run: Run) -> AsyncGenerator[Event]:
    """The run's events as A2A updates: working, the answer's text as appended chunks of one artifact, tool
    calls as working status messages, then the whole answer as the artifact's last chunk and the final
    status."""
    task_id, context_id = str(run.id), await sync_to_async(lambda: client_context_id(run.thread))()
    streamed = ""
    async for event in door_run_events(run):
        if event is None:
            continue
        kind = event["type"]
        if kind == RUN_IN_PROGRESS:
            yield _status_update(task_id, context_id, TaskState.TASK_STATE_WORKING)
        elif kind == MESSAGE_DELTA and event.get("delta"):
            yield TaskArtifactUpdateEvent(
                task_id=task_id,
                context_id=context_id,
                artifact=answer_artifact(event["delta"]),
                append=bool(streamed),
                last_chunk=False,
            )
            streamed += event["delta"]
        elif kind == TOOL_CALL_STARTED:
            call = {
                "tool_call_id": event["tool_call_id"],
                "name": event["name"],
                "arguments": event.get("arguments"),
            }
            yield _status_update(
                task_id, context_id, TaskState.TASK_STATE_WORKING, f"Calling {event['name']}", tool_call=call
            )
        elif kind == TOOL_CALL_COMPLETED:
            outcome = "done" if event.get("ok") else f"failed: {event.get('error') or 'error'}"
            call = {"tool_call_id": event["tool_call_id"], "name": event["name"], "ok": event.get("ok")}
            yield _status_update(
                task_id,
                context_id,
                TaskState.TASK_STATE_WORKING,
                f"{event['name']} {outcome}",
                tool_call=call,
            )
        elif is_terminal(event):
            final = await sync_to_async(_task_now)(run)
            if final.artifacts or streamed:
                # The whole answer replaces the streamed chunks: a client that joins an artifact's parts
                # (as the SDK's helpers do, with newlines) reads the answer exactly as stored.
                whole = final.artifacts[0] if final.artifacts else answer_artifact(streamed)
                yield TaskArtifactUpdateEvent(
                    task_id=task_id, context_id=context_id, artifact=whole, append=False, last_chunk=True
                )
            yield TaskStatusUpdateEvent(
                task_id=task_id, context_id=context_id, status=final.status, metadata=final.metadata
            )
