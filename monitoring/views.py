"""Monitoring endpoints (staff only), the public readiness probe, and `GET /metrics` for Prometheus."""

import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import django
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from rest_framework.decorators import api_view, permission_classes
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import figures, probes, selectors, system
from monitoring.logstore import log_store
from monitoring.serializers import (
    ConnectivitySerializer,
    HealthSerializer,
    LogQuerySerializer,
    LogsSerializer,
    MetricsSerializer,
    StatusSerializer,
)
from orchestrator_studio import __version__
from orchestrator_studio.auth import IsStaff
from orchestrator_studio.errors import ServiceUnavailable
from threads.selectors import conversation_counts, runs_by_status

TAG = ["monitoring"]


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database and the channel layer answer; 503 otherwise. Public, so it says which
    component failed but not how (the staff-only `/api/monitoring/health` does)."""
    checks: dict[str, dict[str, object]] = {}
    for name, result in (await probes.readiness()).items():
        checks[name] = {"ok": result.ok, "latency_ms": result.latency_ms}
        if result.error:
            checks[name]["error"] = result.error.split(":")[0]  # the kind of failure, without its details
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@extend_schema(tags=TAG, responses=HealthSerializer, summary="Health of the service's dependencies")
@api_view(["GET"])
@permission_classes([IsStaff])
def health(request: Request) -> Response:
    return Response(async_to_sync(probes.health)())


@extend_schema(tags=TAG, responses=MetricsSerializer, summary="Host, process and run figures")
@api_view(["GET"])
@permission_classes([IsStaff])
def metrics(request: Request) -> Response:
    return Response(
        {
            "system": system.system_figures(),
            "process": system.process_figures(),
            "runs": runs_by_status(),
            "last_hour": figures.last_hour(),
            "since_start": figures.since_start(),
        }
    )


@extend_schema(tags=TAG, responses=StatusSerializer, summary="Version, uptime and settings summary")
@api_view(["GET"])
@permission_classes([IsStaff])
def status(request: Request) -> Response:
    started_at = system.process_started_at()
    database = connections["default"]
    return Response(
        {
            "version": __version__,
            "started_at": datetime.fromtimestamp(started_at, tz=UTC).isoformat(),
            "uptime_seconds": round(datetime.now(tz=UTC).timestamp() - started_at, 1),
            "python": platform.python_version(),
            "django": django.get_version(),
            "debug": settings.DEBUG,
            "database": {"vendor": database.vendor, "engine": database.settings_dict["ENGINE"]},
            "channel_layer": probes.backend_name(settings.CHANNEL_LAYERS),
            "cache": probes.backend_name(settings.CACHES),
            "redis_configured": bool(settings.REDIS_URL),
            "run_executor": settings.RUN_EXECUTOR,
            "log_store": {
                "backend": "redis" if settings.REDIS_URL else "memory",
                "max_records": settings.LOG_STORE_MAX_RECORDS,
                "level": settings.LOG_STORE_LEVEL,
                "format": settings.LOG_FORMAT,
            },
            "metrics": {
                "prometheus_multiprocess": figures.multiprocess_enabled(),
                "public": settings.METRICS_PUBLIC,
            },
            "registry": selectors.registry_counts(),
            **conversation_counts(),
        }
    )


@extend_schema(
    tags=TAG, responses=ConnectivitySerializer, summary="Probe every enabled LLM config, agent and datasource"
)
@api_view(["GET"])
@permission_classes([IsStaff])
def connectivity(request: Request) -> Response:
    return Response(async_to_sync(probes.connectivity)())


@extend_schema(
    tags=TAG,
    parameters=[LogQuerySerializer],
    responses=LogsSerializer,
    summary="Recent log records of every process",
)
@api_view(["GET"])
@permission_classes([IsStaff])
def logs(request: Request) -> Response:
    query = LogQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params: dict[str, Any] = query.validated_data
    try:
        records = log_store().recent(
            min_level=params.get("level", 0),
            logger=params.get("logger", ""),
            limit=min(params["limit"], settings.LOG_STORE_MAX_RECORDS),
        )
    except RedisError as exc:
        raise ServiceUnavailable("The shared log store (Redis) is unreachable.") from exc
    return Response({"logs": records})


class MetricsAccess(BasePermission):
    """Anyone when METRICS_PUBLIC is on, else staff."""

    message = "Staff only (or set METRICS_PUBLIC=true)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.METRICS_PUBLIC or IsStaff().has_permission(request, view)


class AnyAccept(BaseContentNegotiation):
    """Prometheus text is the only format: answer it whatever the Accept header asks for."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class PrometheusMetricsView(APIView):
    permission_classes = [MetricsAccess]
    content_negotiation_class = AnyAccept

    @extend_schema(
        tags=TAG,
        summary="Prometheus metrics (text exposition format)",
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(generate_latest(figures.prometheus_registry()), content_type=CONTENT_TYPE_LATEST)
