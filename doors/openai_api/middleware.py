"""Errors on the OpenAI-compatible paths in OpenAI's shape, whoever answered them: the door's views, and
also what happens before or around them (a body over `MAX_REQUEST_BODY_BYTES` refused with 413 before any
view reads it, an unknown `/v1/...` path, the database down), which the project answers in its envelope.

It sits outside `orchestrator_studio.middleware.api_error_envelope`, so every error it sees is already the
JSON envelope; it adds `type` and `param`, keeping `code`, `message` and the headers (`Allow`,
`Retry-After`, `WWW-Authenticate`).
"""

from collections.abc import Awaitable, Callable
from typing import cast

import orjson
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from doors.openai_api.errors import error_type

OPENAI_PREFIX = "/v1/"
# The project's own API under /v1 (API.md, "Threads and runs"), in the project's envelope.
PROJECT_PATHS = ("/v1/chat", "/v1/chat/health")


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIX) and path.rstrip("/") not in PROJECT_PATHS


def in_openai_shape(response: HttpResponseBase) -> HttpResponseBase:
    """An error envelope given `type` and `param` (the first invalid field, if any); anything else as is."""
    if response.status_code < 400 or response.streaming:
        return response
    if not response.get("Content-Type", "").startswith("application/json"):
        return response
    try:
        body = orjson.loads(response.content)  # type: ignore[attr-defined]
    except orjson.JSONDecodeError:
        return response
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or "type" in error:
        return response
    fields = error.get("fields")
    param = next(iter(fields), None) if isinstance(fields, dict) else None
    body["error"] = {**error, "type": error_type(response.status_code), "param": param}
    response.content = orjson.dumps(body)  # type: ignore[attr-defined]
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
    return response


@sync_and_async_middleware
def openai_error_shape(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            return in_openai_shape(response) if is_openai_path(request.path) else response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = cast(HttpResponseBase, get_response(request))
        return in_openai_shape(response) if is_openai_path(request.path) else response

    return middleware
