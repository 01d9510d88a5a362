"""The REST side of the agent API: threads, runs and memory (API.md). A non-staff user only ever sees what
belongs to them; anything else is a 404, as if it did not exist."""

import logging
import time
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator_studio.errors import NotFound, ValidationFailed
from orchestrator_studio.inputs import validated
from orchestrator_studio.timing import elapsed_ms
from threads import memory, selectors, services
from threads.api import serializers as api
from threads.models import Message, Run, RunEvent, Thread

logger = logging.getLogger(__name__)


class AgentInitiateView(APIView):
    @extend_schema(
        request=api.ThreadInitiateSerializer,
        responses={201: api.ThreadCreatedSerializer},
        summary="Start a conversation thread",
        tags=["agent"],
    )
    def post(self, request: Request) -> Response:
        data = validated(api.ThreadInitiateSerializer, request.data)
        thread = services.thread_create(
            owner=request.user, user_id=data.get("user_id"), title=data["title"], metadata=data["metadata"]
        )
        body = {"thread_id": thread.id, "status": thread.status, "created_at": thread.created_at}
        return Response(api.ThreadCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


THREAD_FILTERS = [
    OpenApiParameter("user_id", str, description="Only threads of this end user."),
    OpenApiParameter("status", str, description="active or archived."),
    OpenApiParameter("ordering", str, description="created_at, updated_at or title; '-' for descending."),
]


@extend_schema(tags=["threads"])
class ThreadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your threads (staff: everyone's), newest activity first; the detail holds the messages."""

    serializer_class = api.ThreadSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    ordering_fields = ["created_at", "updated_at", "title"]

    def get_queryset(self) -> QuerySet[Thread]:
        queryset = selectors.threads_visible_to(self.request.user)
        if self.action == "list":
            params = self.request.query_params
            if params.get("user_id"):
                queryset = queryset.filter(user_id=params["user_id"])
            if params.get("status"):
                queryset = queryset.filter(status=params["status"])
        if self.action in ("retrieve", "partial_update"):
            queryset = queryset.prefetch_related(
                Prefetch("messages", queryset=Message.objects.order_by("created_at"))
            )
        return queryset.order_by("-updated_at")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action in ("retrieve", "partial_update"):
            return api.ThreadDetailSerializer
        if self.action == "runs":
            return api.RunSerializer
        return api.ThreadSerializer

    @extend_schema(parameters=THREAD_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=api.ThreadUpdateSerializer, responses={200: api.ThreadDetailSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        thread = self.get_object()
        data = validated(api.ThreadUpdateSerializer, request.data)
        thread = services.thread_update(thread=thread, **data)
        thread = self.get_queryset().get(pk=thread.pk)
        return Response(api.ThreadDetailSerializer(thread).data)

    def perform_destroy(self, instance: Thread) -> None:
        services.thread_delete(thread=instance)

    @extend_schema(responses={200: api.RunSerializer(many=True)}, summary="The thread's runs, newest first")
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        thread = self.get_object()
        runs = Run.objects.filter(thread=thread).select_related("llm_config").order_by("-created_at")
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(api.RunSerializer(page, many=True).data)


@extend_schema(tags=["runs"])
class RunViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One run with its events, tool calls, usage and error."""

    serializer_class = api.RunDetailSerializer

    def get_queryset(self) -> QuerySet[Run]:
        return selectors.runs_visible_to(self.request.user).prefetch_related(
            Prefetch("events", queryset=RunEvent.objects.order_by("seq")), "approvals"
        )

    @extend_schema(
        request=None,
        responses={202: api.RunSerializer},
        summary="Cancel the run; it ends `cancelled` and its in-flight calls are abandoned",
        description="A run waiting for approval ends at once; its waiting calls never run. The answer "
        "carries `run_id`, `status` and `cancel_requested`.",
    )
    @action(detail=True, methods=["post"], url_path="cancel")
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = services.run_cancel(run=self.get_object())
        return Response(api.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


HISTORY_LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 1000},
    description="Most recent messages to return (1-1000, default 50).",
)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise ValidationFailed("Invalid limit.", fields={"limit": ["Must be an integer from 1 to 1000."]})
    return limit


def _memory_thread(user: Any, user_id: str, thread_id: UUID | None) -> Thread:
    """Where a hand-written memory message goes: the given thread (one of `user_id`'s), else the user's
    latest thread, else a new one."""
    threads = selectors.threads_visible_to(user).filter(user_id=user_id)
    if thread_id is not None:
        thread = threads.filter(pk=thread_id).first()
        if thread is None:
            raise NotFound(f"No thread {thread_id} of user '{user_id}'.")
        return thread
    return threads.order_by("-updated_at").first() or services.thread_create(
        owner=user, user_id=user_id, title="Memory"
    )


def _memory_health(user: Any) -> tuple[dict[str, Any], int]:
    started = time.perf_counter()
    try:
        threads = selectors.threads_visible_to(user)
        counts = {
            "thread_count": threads.count(),
            "message_count": Message.objects.filter(thread__in=threads).count(),
        }
    except DatabaseError as exc:
        logger.warning("Memory store unreachable: %s", type(exc).__name__)
        body = {
            "status": "down",
            "latency_ms": elapsed_ms(started),
            "error": "The message store is unreachable.",
        }
        return body, status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ok", "latency_ms": elapsed_ms(started), **counts}, status.HTTP_200_OK


@extend_schema(tags=["memory"])
class MemoryViewSet(viewsets.ViewSet):
    """A user's conversation memory across threads (`user_id` as the client names its end user).

    Non-staff users reach only the memory of their own threads: another user's is simply empty.
    """

    @extend_schema(parameters=[HISTORY_LIMIT], responses={200: api.MemoryHistorySerializer})
    def history(self, request: Request, user_id: str) -> Response:
        history = selectors.memory_history(user=request.user, user_id=user_id, limit=_limit(request))
        return Response(api.MemoryHistorySerializer(history).data)

    @extend_schema(responses={200: api.MemoryContextSerializer}, summary="The messages as sent to the LLM")
    def context(self, request: Request, user_id: str) -> Response:
        return Response(
            api.MemoryContextSerializer(selectors.memory_context(user=request.user, user_id=user_id)).data
        )

    @extend_schema(responses={200: api.MemorySummarySerializer}, summary="Running summaries of older turns")
    def summary(self, request: Request, user_id: str) -> Response:
        return Response(
            api.MemorySummarySerializer(selectors.memory_summary(user=request.user, user_id=user_id)).data
        )

    @extend_schema(responses={200: api.MemoryStatsSerializer})
    def stats(self, request: Request, user_id: str) -> Response:
        return Response(
            api.MemoryStatsSerializer(selectors.memory_stats(user=request.user, user_id=user_id)).data
        )

    @extend_schema(request=None, responses={204: None}, summary="Forget the user's messages")
    def clear(self, request: Request, user_id: str) -> Response:
        services.memory_clear(owner=request.user, user_id=user_id, staff=request.user.is_staff)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=api.MemoryMessageAddSerializer,
        responses={201: api.MessageSerializer},
        summary="Add a message to the user's memory",
    )
    def add_message(self, request: Request, user_id: str) -> Response:
        data = validated(api.MemoryMessageAddSerializer, request.data)
        thread = _memory_thread(request.user, user_id, data.get("thread_id"))
        message = services.message_create(thread=thread, role=data["role"], content=data["content"])
        return Response(api.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: api.MemoryConfigSerializer}, summary="How memory is kept")
    def config(self, request: Request) -> Response:
        body = {
            "context_tokens": settings.MEMORY_CONTEXT_TOKENS,
            "chars_per_token": memory.CHARS_PER_TOKEN,
            "summary_budget_share": memory.SUMMARY_BUDGET_SHARE,
            "summarize_older_turns": True,
            "default_system_prompt": memory.DEFAULT_SYSTEM_PROMPT,
        }
        return Response(api.MemoryConfigSerializer(body).data)

    @extend_schema(responses={200: api.MemoryHealthSerializer, 503: api.MemoryHealthSerializer})
    def health(self, request: Request) -> Response:
        body, code = _memory_health(request.user)
        return Response(body, status=code)
