"""OpenAPI for the agent's plain async views (execute, the SSE stream, /v1/chat), which drf-spectacular
cannot see: a postprocessing hook (`SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`) describes each one with
the same `extend_schema` arguments and serializers a DRF view would use, so /docs shows every endpoint."""

from typing import Any

from drf_spectacular.plumbing import build_mocked_view
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

from orchestrator_studio.schema import error_response
from registry.api.connector_serializers import LLM_NOT_CONFIGURED
from threads.api import serializers as api
from threads.inputs import RunExecuteSerializer

THREAD_ID = OpenApiParameter("thread_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The thread.")
SSE_DESCRIPTION = (
    "`text/event-stream`: frames `id: <seq>`, `event: <type>`, `data: <event JSON>`, separated by a blank "
    "line; a `: ping` comment at least every 10 s; the stream ends after the terminal event "
    "(`run.completed`, `run.failed` or `run.cancelled`)."
)
# One run event, the `data` of each frame (API.md, "Events"): the fields every event has, then its type's own.
RUN_EVENT_SCHEMA = {
    "type": "object",
    "required": ["type", "thread_id", "run_id", "seq"],
    "properties": {
        "type": {"type": "string", "description": "run.created, message.delta, tool_call.started, ..."},
        "thread_id": {"type": "string", "format": "uuid"},
        "run_id": {"type": "string", "format": "uuid"},
        "seq": {"type": "integer", "minimum": 1, "description": "1, 2, 3, ... within the run."},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": True,
}
# One frame of the stream (`: ping` comments carry no event).
SSE_FRAME_SCHEMA = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's seq."},
        "event": {"type": "string", "description": "The event's type."},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": RUN_EVENT_SCHEMA},
    },
}
SSE_RESPONSE = OpenApiResponse(SSE_FRAME_SCHEMA, description=SSE_DESCRIPTION)
AUTH_ERRORS = {401: error_response("Missing or invalid token.")}

ASYNC_VIEWS: list[tuple[str, str, Any]] = [
    (
        "/api/agent/{thread_id}/execute",
        "post",
        extend_schema(
            operation_id="agent_execute",
            summary="Start a run on the thread",
            description="Queues a run and returns at once; follow it with the stream or the websocket. "
            "One active run per thread. The run goes on when the client disconnects.",
            tags=["agent"],
            parameters=[THREAD_ID],
            request=RunExecuteSerializer,
            responses={
                202: api.RunQueuedSerializer,
                400: error_response("Invalid input or malformed JSON."),
                **AUTH_ERRORS,
                404: error_response("Unknown thread (or another user's)."),
                409: error_response("The thread already has a queued or running run."),
                415: error_response("The body is not JSON."),
            },
        ),
    ),
    (
        "/api/agent/{thread_id}/stream",
        "get",
        extend_schema(
            operation_id="agent_stream",
            summary="Stream a run's events (SSE)",
            description="Stored events first, then live ones, of the given run or the thread's latest. "
            "Resume after a seq with the `Last-Event-ID` header or `last_id`.",
            tags=["agent"],
            parameters=[
                THREAD_ID,
                OpenApiParameter("run_id", OpenApiTypes.UUID, description="The run; the latest by default."),
                OpenApiParameter(
                    "last_id",
                    {"type": "integer", "minimum": 0},
                    description="Resume after this seq (a larger one).",
                ),
                OpenApiParameter(
                    "Last-Event-ID",
                    {"type": "integer", "minimum": 0},
                    OpenApiParameter.HEADER,
                    description="Set by a reconnecting EventSource; wins over `last_id`.",
                ),
            ],
            request=None,
            responses={
                (200, "text/event-stream"): SSE_RESPONSE,
                400: error_response("Invalid resume point."),
                **AUTH_ERRORS,
                404: error_response("Unknown thread or run, or the thread has no run yet."),
            },
        ),
    ),
    (
        "/api/runs/{run_id}/approve",
        "post",
        extend_schema(
            operation_id="run_approve",
            summary="Approve or reject calls the run waits for",
            description="Each decision emits `tool_call.approval_decided`; the one that settles the turn's "
            "last waiting call hands the run back to an executor, which runs the approved calls and tells "
            "the LLM of the rejected ones. The thread's owner or staff decide.",
            tags=["runs"],
            parameters=[
                OpenApiParameter("run_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The run.")
            ],
            request=api.RunApproveSerializer,
            responses={
                202: api.RunApprovedSerializer,
                400: error_response("Invalid decisions or malformed JSON."),
                **AUTH_ERRORS,
                404: error_response("Unknown run (or another user's)."),
                409: error_response("A call is not waiting for a decision (unknown, or decided already)."),
                415: error_response("The body is not JSON."),
            },
        ),
    ),
    (
        "/v1/chat",
        "post",
        extend_schema(
            operation_id="chat",
            summary="Ask and get the answer (or its event stream)",
            description="Runs the prompt on a new thread (or `thread_id`) and answers once the run ends; "
            'with `"stream": true` the answer is the run\'s event stream, as on the SSE endpoint.',
            tags=["chat"],
            request=api.ChatSerializer,
            responses={
                (200, "application/json"): api.ChatAnswerSerializer,
                (200, "text/event-stream"): SSE_RESPONSE,
                400: error_response("Invalid input or malformed JSON."),
                **AUTH_ERRORS,
                404: error_response("Unknown thread."),
                409: error_response("The thread already has a queued or running run."),
                415: error_response("The body is not JSON."),
            },
        ),
    ),
    (
        "/v1/chat/health",
        "get",
        extend_schema(
            operation_id="chat_health",
            summary="Whether /v1/chat can take prompts",
            tags=["chat"],
            request=None,
            responses={
                200: inline_serializer(
                    "ChatHealth",
                    {
                        "status": serializers.CharField(
                            help_text="ok, or degraded when the LLM config is disabled."
                        ),
                        "llm_config": serializers.CharField(),
                        "model": serializers.CharField(),
                        "llm_enabled": serializers.BooleanField(),
                        "executor": serializers.CharField(),
                    },
                ),
                **AUTH_ERRORS,
                404: LLM_NOT_CONFIGURED,
            },
        ),
    ),
]


def add_async_views(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: adds the async views' operations and the components they use."""
    for path, method, decorator in ASYNC_VIEWS:
        view = build_mocked_view(
            method=method, path=path, extend_schema_decorator=decorator, registry=generator.registry
        )
        operation = view.schema.get_operation(path, path, "", method, generator.registry)
        result["paths"].setdefault(path, {})[method] = operation
    for kind, components in generator.registry.build({}).items():
        result.setdefault("components", {}).setdefault(kind, {}).update(
            {name: schema for name, schema in components.items() if name not in result["components"][kind]}
        )
    result["paths"] = dict(sorted(result["paths"].items()))
    return result
