"""`GET /v1/models`, `GET /v1/models/{id}` and `POST /v1/chat/completions`: plain Django async views (the
run is started on the server's event loop and its events are relayed as they come)."""

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from doors.auth import door_user
from doors.openai_api.errors import OpenAIRequestError, domain_error_response, openai_error_response
from doors.openai_api.requests import ChatCompletionRequest, chat_completion_request, request_body
from doors.openai_api.shapes import (
    SSE_DONE,
    SSE_PING,
    ChunkWriter,
    chat_completion,
    finish_reason,
    model_object,
)
from doors.services import door_llm_config, door_run_events, door_run_start, door_thread_create
from doors.transcript import RunTranscript
from orchestrator_studio.errors import DomainError
from orchestrator_studio.throttle import AuthThrottled, client_address
from registry.models import LLMConfig
from threads.engine.events import MESSAGE_DELTA
from threads.models import Run

AsyncView = Callable[..., Coroutine[Any, Any, HttpResponseBase]]
DOOR_METADATA = {"door": "openai"}


def openai_view(*methods: str) -> Callable[[AsyncView], AsyncView]:
    """Method check, token authentication and errors in OpenAI's shape for an async view, which gets the
    token's user as its second argument."""

    def decorate(view: AsyncView) -> AsyncView:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = openai_error_response(
                    405, f"Method {request.method} is not allowed here.", code="method_not_allowed"
                )
                response["Allow"] = ", ".join(methods)
                return response
            authorization = request.headers.get("Authorization", "")
            try:
                user = await door_user(authorization, client_address(request))
            except AuthThrottled as exc:
                return domain_error_response(exc)
            if user is None:
                message = (
                    "Invalid or expired API token."
                    if authorization
                    else "No API token: send 'Authorization: Bearer <token>'."
                )
                return openai_error_response(401, message, code="invalid_api_key")
            request.user = user
            try:
                return await view(request, user, *args, **kwargs)
            except DomainError as exc:
                return domain_error_response(exc)
            except RequestDataTooBig:
                # A body sent without Content-Length (chunked) is only measured as it is read.
                message = f"Request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
                return openai_error_response(413, message, code="request_too_large")

        return csrf_exempt(wrapper)

    return decorate


# --- models -----------------------------------------------------------------------------------------


def _enabled_configs() -> list[LLMConfig]:
    return list(LLMConfig.objects.filter(enabled=True).order_by("name"))


def _model_config(name: str) -> LLMConfig:
    config = door_llm_config(name)
    if config is None:
        raise OpenAIRequestError(
            f"The model '{name}' does not exist or is not enabled; GET /v1/models lists the models.",
            code="model_not_found",
            param="model",
            status_code=404,
        )
    return config


@openai_view("GET")
async def models_list(request: HttpRequest, user: User) -> HttpResponseBase:
    configs = await sync_to_async(_enabled_configs)()
    return JsonResponse({"object": "list", "data": [model_object(config) for config in configs]})


@openai_view("GET")
async def model_detail(request: HttpRequest, user: User, model_id: str) -> HttpResponseBase:
    return JsonResponse(model_object(await sync_to_async(_model_config)(model_id)))


# --- chat completions -------------------------------------------------------------------------------


def _run_error_response(transcript: RunTranscript) -> JsonResponse:
    """A run that failed: its error, 503 when an outside system (the LLM, a worker) was at fault."""
    error = transcript.error or {}
    code = error.get("code") or "run_failed"
    status = 500 if code == "internal_error" else 503
    return openai_error_response(status, error.get("message") or "The run failed.", code=code)


async def _completion_stream(run: Run, chat: ChatCompletionRequest) -> AsyncIterator[bytes]:
    writer = ChunkWriter(run, chat.model, include_usage=chat.include_usage)
    transcript = RunTranscript(thread_id=str(run.thread_id), run_id=str(run.id))
    yield writer.chunk({"role": "assistant", "content": ""})
    async for event in door_run_events(run):
        if event is None:
            yield SSE_PING
            continue
        transcript.add(event)
        if event["type"] == MESSAGE_DELTA and event.get("delta"):
            yield writer.chunk({"content": event["delta"]})
    if transcript.status == "failed":
        error = transcript.error or {}
        body = {
            "message": error.get("message") or "The run failed.",
            "type": "server_error",
            "code": error.get("code") or "run_failed",
            "param": None,
        }
        yield writer.frame({"error": body, "orchestrator": transcript.summary()})
        return
    yield writer.chunk({}, finish_reason(transcript), orchestrator=transcript.summary())
    if chat.include_usage:
        yield writer.usage(transcript)
    yield SSE_DONE


def _stream_response(chunks: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    # Proxies (nginx) would otherwise hold the chunks back until their buffer fills.
    response["X-Accel-Buffering"] = "no"
    return response


@openai_view("POST")
async def chat_completions(request: HttpRequest, user: User) -> HttpResponseBase:
    chat = chat_completion_request(request_body(request.body, request.content_type or ""))
    config = await sync_to_async(_model_config)(chat.model)
    if chat.image_params and not config.accepts_images:
        raise OpenAIRequestError(
            f"The model '{config.name}' does not take images (its LLM config's accepts_images is off): "
            "send the message as text, or use a model that takes images.",
            code="unsupported_content",
            param=chat.image_params[0],
        )
    thread = await sync_to_async(door_thread_create)(
        owner=user, task=chat.task, user_id=chat.user, metadata=DOOR_METADATA, earlier=chat.earlier
    )
    run = await door_run_start(
        thread=thread, task=chat.task, options=chat.run_options(), thread_is_new=True, parts=chat.task_parts
    )
    if chat.stream:
        return _stream_response(_completion_stream(run, chat))
    # The run goes on if this client leaves; the thread keeps its answer.
    transcript = RunTranscript(thread_id=str(run.thread_id), run_id=str(run.id))
    async for event in door_run_events(run):
        if event is not None:
            transcript.add(event)
    if transcript.status == "failed":
        return _run_error_response(transcript)
    return JsonResponse(chat_completion(run, chat.model, transcript))
