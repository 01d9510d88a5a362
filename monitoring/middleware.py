"""Counts every HTTP request and times it, labelled by the route pattern (never the raw path)."""

import time
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from monitoring.metrics import record_http_request

UNMATCHED_ROUTE = "<unmatched>"


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.route or match.view_name or UNMATCHED_ROUTE) if match else UNMATCHED_ROUTE


def _record(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    record_http_request(
        method=request.method or "",
        route=_route(request),
        status=response.status_code,
        duration_seconds=time.perf_counter() - started,
    )


@sync_and_async_middleware
def request_metrics(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            started = time.perf_counter()
            response = await get_response(request)
            _record(request, response, started)
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = get_response(request)
        _record(request, response, started)  # type: ignore[arg-type]
        return response  # type: ignore[return-value]

    return middleware
