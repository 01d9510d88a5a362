"""The project's own endpoints: the public root, liveness and readiness, and the (authenticated) API index."""

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring.probes import readiness
from orchestrator_studio import __version__


def root(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "name": "Orchestrator Studio",
            "version": __version__,
            "links": {
                "docs": request.build_absolute_uri(reverse("swagger-ui")),
                "schema": request.build_absolute_uri(reverse("schema")),
                "admin": request.build_absolute_uri(reverse("admin:index")),
                "api": request.build_absolute_uri("/api/"),
                "health": request.build_absolute_uri(reverse("healthz")),
            },
        }
    )


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database and the channel layer answer; 503 otherwise. Public, so it says which
    component failed but not how (the staff-only `/api/monitoring/health` does)."""
    checks: dict[str, dict[str, object]] = {}
    for name, result in (await readiness()).items():
        checks[name] = {"ok": result.ok, "latency_ms": result.latency_ms}
        if result.error:
            checks[name]["error"] = result.error.split(":")[0]  # the kind of failure, without its details
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


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
