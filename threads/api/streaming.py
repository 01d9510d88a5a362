"""The agent endpoints that are plain Django async views: execute, the SSE stream and /v1/chat.

They are async because they live on the server's event loop: the inline executor starts the run as a task
of that loop, and a stream waits on the channel layer without holding a thread. Authentication, JSON
parsing and errors follow the rest of the API (token header, `{"error": ...}` envelope).
"""

import functools
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from typing import Any, TypeVar
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from orchestrator_studio.auth import token_from_header, user_for_token_from
from orchestrator_studio.errors import (
    DomainError,
    NotFound,
    ValidationFailed,
    domain_error_response,
    error_response,
)
from orchestrator_studio.inputs import validated
from orchestrator_studio.json_limits import loads_bounded
from orchestrator_studio.outages import outage_error
from orchestrator_studio.throttle import client_address
from registry.selectors import llm_config_default
from threads import services
from threads.api.serializers import ChatSerializer
from threads.engine.db import connection_release
from threads.engine.events import Event, is_terminal
from threads.event_hub import event_hub
from threads.follow import RunFollower
from threads.inputs import RunExecuteSerializer, run_options
from threads.models import Run, Thread
from threads.selectors import run_latest, runs_visible_to, threads_visible_to, tool_calls_in

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=Model)

AsyncView = Callable[..., Coroutine[Any, Any, HttpResponseBase]]
JSON_CONTENT_TYPES = ("application/json",)


def _token_user(raw: str, address: str | None) -> Any:
    try:
        return user_for_token_from(raw, address)
    finally:
        # These views then wait for seconds or minutes (a stream, a run): a connection kept by the request's
        # thread until the request ends would be one of the pool's for all that time.
        connection_release()


def _unauthorized(message: str) -> JsonResponse:
    response = error_response(401, "not_authenticated", message)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def async_api_view(view: AsyncView) -> AsyncView:
    """Token authentication and the error envelope for a plain async view (what DRF does for its views)."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        header = request.headers.get("Authorization", "")
        if not header:
            return _unauthorized("Authentication credentials were not provided.")
        raw = token_from_header(header)
        if raw is None:
            return _unauthorized("Authorization header must be 'Bearer <token>'.")
        try:
            user = await sync_to_async(_token_user)(raw, client_address(request))
            if user is None:
                return _unauthorized("Invalid or expired token.")
            request.user = user
            return await view(request, *args, **kwargs)
        except DomainError as exc:
            return domain_error_response(exc)

    return csrf_exempt(wrapper)


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; 415 for another content type, 400 for anything that is not a JSON object."""
    if request.body and request.content_type not in JSON_CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Send JSON with 'Content-Type: application/json', not '{request.content_type}'."
        )
    if not request.body:
        return {}
    try:
        data = loads_bounded(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DomainError(f"Malformed JSON: {exc}", code="malformed_request") from None
    if not isinstance(data, dict):
        raise DomainError("The body must be a JSON object.", code="malformed_request")
    return data


def _found(rows: QuerySet[T], pk: UUID, missing: str) -> T:
    """The row `pk` of `rows` (what the user may see), or a 404: another user's looks like none at all."""
    row = rows.filter(pk=pk).first()
    if row is None:
        raise NotFound(missing)
    return row


def visible_thread(user: AbstractBaseUser | AnonymousUser, thread_id: UUID) -> Thread:
    return _found(threads_visible_to(user), thread_id, "Thread not found.")


def visible_run(user: AbstractBaseUser | AnonymousUser, run_id: UUID) -> Run:
    return _found(runs_visible_to(user), run_id, "Run not found.")


def _run_queued(run: Run) -> dict[str, Any]:
    return {
        "thread_id": str(run.thread_id),
        "run_id": str(run.id),
        "status": run.status,
        "created_at": run.created_at.isoformat().replace("+00:00", "Z"),
    }


# --- execute ----------------------------------------------------------------------------------------


@async_api_view
@require_POST
async def agent_execute(request: HttpRequest, thread_id: UUID) -> HttpResponseBase:
    thread = await sync_to_async(visible_thread)(request.user, thread_id)
    data = await sync_to_async(validated)(RunExecuteSerializer, json_body(request))
    run = await services.run_start(thread=thread, task=data["task"], options=run_options(data))
    return JsonResponse(_run_queued(run), status=202)


# --- SSE --------------------------------------------------------------------------------------------


def sse_frame(event: Event) -> bytes:
    data = json.dumps(event, cls=DjangoJSONEncoder, separators=(",", ":"))
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n".encode()


SSE_PING = b": ping\n\n"


def sse_error_frame(error: DomainError) -> bytes:
    data = json.dumps({"error": error.as_error()}, separators=(",", ":"))
    return f"event: error\ndata: {data}\n\n".encode()


async def sse_frames(follower: RunFollower) -> AsyncIterator[bytes]:
    """The stream's frames; when the store or the channel layer cannot be reached mid-stream (the status
    was sent already), an `error` frame with the 503's error ends it: the client resumes after the last
    `id` it got (an EventSource does so by itself)."""
    async with aclosing(follower.__aiter__()) as items:
        try:
            async for item in items:
                yield SSE_PING if item is None else sse_frame(item)
        except Exception as exc:
            outage = outage_error(exc)
            if outage is None:
                raise
            logger.warning("SSE stream of run %s ended: %s", follower.run_id, outage.code)
            yield sse_error_frame(outage)


def sse_response(follower: RunFollower) -> StreamingHttpResponse:
    response = StreamingHttpResponse(sse_frames(follower), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    # Proxies (nginx) would otherwise hold the frames back until their buffer fills.
    response["X-Accel-Buffering"] = "no"
    return response


def _resume_point(request: HttpRequest) -> int:
    # A reconnecting EventSource repeats its original URL, so its Last-Event-ID header is the fresher one.
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_id") or "0"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValidationFailed(
            "Invalid resume point.", fields={"last_id": ["Must be a non-negative integer (an event's seq)."]}
        )
    return value


def _run_to_stream(thread: Thread, run_id: str | None) -> Run:
    if run_id:
        try:
            pk = UUID(run_id)
        except ValueError:
            raise NotFound("Run not found in this thread.") from None
        return _found(thread.runs.all(), pk, "Run not found in this thread.")
    run = run_latest(thread=thread)
    if run is None:
        raise NotFound("This thread has no run yet.")
    return run


def _stream_target(user: AbstractBaseUser | AnonymousUser, thread_id: UUID, run_id: str | None) -> Run:
    try:
        return _run_to_stream(visible_thread(user, thread_id), run_id)
    finally:
        connection_release()  # the stream reads the store with connections of its own


@async_api_view
@require_GET
async def agent_stream(request: HttpRequest, thread_id: UUID) -> HttpResponseBase:
    after = _resume_point(request)
    run = await sync_to_async(_stream_target)(request.user, thread_id, request.GET.get("run_id"))
    return sse_response(RunFollower(thread_id=run.thread_id, run_id=run.id, after_seq=after))


# --- /v1/chat ---------------------------------------------------------------------------------------


def _chat_thread(user: AbstractBaseUser | AnonymousUser, data: dict[str, Any]) -> Thread:
    """The thread named by `thread_id`, or a new one (saved by `run_start`, with the run)."""
    if data.get("thread_id"):
        return visible_thread(user, data["thread_id"])
    title = " ".join(data["prompt"].split())[:80]
    return services.thread_build(
        owner=user, user_id=data.get("user_id"), title=title, metadata=data.get("metadata") or {}
    )


TERMINAL_STATUSES = {
    "run.completed": Run.Status.COMPLETED,
    "run.failed": Run.Status.FAILED,
    "run.cancelled": Run.Status.CANCELLED,
}


def chat_answer(run: Run, events: list[Event]) -> dict[str, Any]:
    """The /v1/chat answer from a run and all its events up to the terminal one (API.md: answer,
    tool_calls, usage, error), without reading the store again."""
    terminal = next((e for e in reversed(events) if is_terminal(e)), {})
    answers = [e.get("content") for e in events if e.get("type") == "message.completed"]
    usage = terminal.get("usage") or run.usage or {}
    return {
        "answer": answers[-1] if answers else None,
        "thread_id": str(run.thread_id),
        "run_id": str(run.id),
        "execution_id": str(run.id),
        "status": TERMINAL_STATUSES.get(terminal.get("type", ""), run.status),
        "tool_calls": [
            {"name": c["name"], "arguments": c.get("arguments"), "ok": c.get("ok"), "output": c.get("output")}
            for c in tool_calls_in(events)
        ],
        "usage": {k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
        "error": terminal.get("error") or run.error or None,
    }


def _chat_input(
    user: AbstractBaseUser | AnonymousUser, body: dict[str, Any]
) -> tuple[dict[str, Any], Thread]:
    """The validated /v1/chat input and its thread, in one step on a thread (both may read the database);
    its connection goes back to the pool before the run is started and waited for."""
    try:
        data = validated(ChatSerializer, body)
        return data, _chat_thread(user, data)
    finally:
        connection_release()


@async_api_view
@require_POST
async def chat(request: HttpRequest) -> HttpResponseBase:
    data, thread = await sync_to_async(_chat_input)(request.user, json_body(request))
    # Subscribed before the run exists: every event of the run then arrives live (gaps are filled from
    # the store), so the answer needs no read of the store.
    subscription = await event_hub().subscribe(thread.id)
    try:
        run = await services.run_start(thread=thread, task=data["prompt"], options=run_options(data))
    except BaseException:
        await subscription.close()
        raise
    follower = RunFollower(thread_id=thread.id, run_id=run.id, subscription=subscription)
    if data["stream"]:
        return sse_response(follower)
    # The run goes on if this client leaves.
    events: list[Event] = []
    async with aclosing(follower.__aiter__()) as items:
        async for item in items:
            if item is not None:
                events.append(item)
    return JsonResponse(chat_answer(run, events))


def _chat_health() -> dict[str, Any]:
    """Whether /v1/chat can take a prompt: the LLM config it would use, and how runs are executed."""
    config = llm_config_default()
    return {
        "status": "ok" if config.enabled else "degraded",
        "llm_config": config.name,
        "model": config.model,
        "llm_enabled": config.enabled,
        "executor": settings.RUN_EXECUTOR,
    }


@async_api_view
@require_GET
async def chat_health(request: HttpRequest) -> HttpResponseBase:
    return JsonResponse(await sync_to_async(_chat_health)())
