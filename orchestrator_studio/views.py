"""The project's own endpoints: the public root, liveness and readiness, and the (authenticated) API index."""

import time
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

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


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()


async def _channel_layer_ok() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database and the channel layer answer; 503 with what failed otherwise."""
    checks = {}
    for name, check in (("database", sync_to_async(_database_ok)), ("channel_layer", _channel_layer_ok)):
        started = time.perf_counter()
        try:
            await check()
            checks[name] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        except Exception as exc:
            checks[name] = {"ok": False, "error": type(exc).__name__}
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
