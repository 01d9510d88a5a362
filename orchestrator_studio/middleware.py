"""Keeps the API's promise that every error is the JSON envelope, whatever produced it.

DRF views already answer with the envelope (see `exception_handler.api_exception_handler`); this catches
the rest on API paths: Django's own 404/405/500 pages, CSRF failures, and bodies over
`MAX_REQUEST_BODY_BYTES` (413, refused before any view reads them).
"""

from collections.abc import Awaitable, Callable
from http import HTTPStatus

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from orchestrator_studio.errors import error_response

API_PREFIXES = ("/api/", "/v1/")

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def _too_large(request: HttpRequest) -> HttpResponseBase | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error_response(400, "bad_request", "Invalid Content-Length header.")
    if length > settings.MAX_REQUEST_BODY_BYTES:
        return error_response(
            413, "request_too_large", f"Request body is larger than {settings.MAX_REQUEST_BODY_BYTES} bytes."
        )
    return None


def _as_envelope(response: HttpResponseBase) -> HttpResponseBase:
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    status = response.status_code
    enveloped = error_response(status, _CODES.get(status, "error"), HTTPStatus(status).phrase + ".")
    if "Allow" in response:
        enveloped["Allow"] = response["Allow"]
    return enveloped


@sync_and_async_middleware
def api_error_envelope(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            if not _is_api(request):
                return await get_response(request)
            return _too_large(request) or _as_envelope(await get_response(request))

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if not _is_api(request):
            return get_response(request)  # type: ignore[return-value]
        return _too_large(request) or _as_envelope(get_response(request))  # type: ignore[arg-type]

    return middleware
