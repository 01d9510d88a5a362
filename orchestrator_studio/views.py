"""The project's own endpoints: the public root, liveness, the (authenticated) API index (readiness is
monitoring's `/readyz`), and the handler of errors nothing else answered."""

import sys

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator_studio import __version__
from orchestrator_studio.errors import error_response
from orchestrator_studio.outages import outage_error


def root(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "name": "Orchestrator Studio",
            "version": __version__,
            "links": {
                "docs": request.build_absolute_uri(reverse("swagger-ui")),
                "schema": request.build_absolute_uri(reverse("schema")),
                "admin": request.build_absolute_uri(reverse("admin:index")),
                "playground": request.build_absolute_uri(reverse("console:playground")),
                "dashboard": request.build_absolute_uri(reverse("console:dashboard")),
                "api": request.build_absolute_uri("/api/"),
                "health": request.build_absolute_uri(reverse("healthz")),
            },
        }
    )


def server_error(request: HttpRequest) -> JsonResponse:
    """`handler500`: an error no view or middleware answered (in any view, the admin and /docs included)
    leaves as the envelope, never an HTML page; the database or Redis being down is a 503 naming it."""
    exception = sys.exception()
    outage = outage_error(exception) if exception is not None else None
    if outage is not None:
        return error_response(outage.status_code, outage.code, outage.message)
    return error_response(500, "internal_error", "Internal Server Error.")


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


API_COLLECTIONS = {
    "llm_configs": "/api/llm/configs/",
    "llm_config": "/api/llm/config",
    "agents": "/api/agents/",
    "tools": "/api/tools/",
    "tool_types": "/api/tools/types/available",
    "datasources": "/api/datasources/",
    "threads": "/api/threads/",
    "monitoring": "/api/monitoring/health",
}


@extend_schema(
    summary="The API's main collections",
    responses=inline_serializer("ApiRoot", {"links": serializers.DictField(child=serializers.URLField())}),
)
@api_view(["GET"])
def api_root(request: Request) -> Response:
    """Where `GET /` points for "the API": links to the collections (API.md lists every endpoint)."""
    return Response(
        {"links": {name: request.build_absolute_uri(path) for name, path in API_COLLECTIONS.items()}}
    )
