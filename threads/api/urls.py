"""Routes of the agent API, mounted at the project root: the paths below are the full ones of API.md."""

from django.urls import path

from threads.api import approvals, streaming, usage, views

threads = views.ThreadViewSet
runs = views.RunViewSet
memory = views.MemoryViewSet

urlpatterns = [
    path("api/agent/initiate", views.AgentInitiateView.as_view(), name="agent-initiate"),
    path("api/agent/<uuid:thread_id>/execute", streaming.agent_execute, name="agent-execute"),
    path("api/agent/<uuid:thread_id>/stream", streaming.agent_stream, name="agent-stream"),
    path("api/threads/", threads.as_view({"get": "list"}), name="thread-list"),
    path(
        "api/threads/<uuid:pk>/",
        threads.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="thread-detail",
    ),
    path("api/threads/<uuid:pk>/runs/", threads.as_view({"get": "runs"}), name="thread-runs"),
    path("api/runs/<uuid:pk>/", runs.as_view({"get": "retrieve"}), name="run-detail"),
    path("api/runs/<uuid:pk>/cancel", runs.as_view({"post": "cancel"}), name="run-cancel"),
    path("api/runs/<uuid:run_id>/approve", approvals.run_approve, name="run-approve"),
    path("api/memory/config", memory.as_view({"get": "config"}), name="memory-config"),
    path("api/memory/health", memory.as_view({"get": "health"}), name="memory-health"),
    path("api/memory/<str:user_id>", memory.as_view({"delete": "clear"}), name="memory-clear"),
    path("api/memory/<str:user_id>/history", memory.as_view({"get": "history"}), name="memory-history"),
    path("api/memory/<str:user_id>/context", memory.as_view({"get": "context"}), name="memory-context"),
    path("api/memory/<str:user_id>/summary", memory.as_view({"get": "summary"}), name="memory-summary"),
    path("api/memory/<str:user_id>/stats", memory.as_view({"get": "stats"}), name="memory-stats"),
    path("api/memory/<str:user_id>/message", memory.as_view({"post": "add_message"}), name="memory-message"),
    path("api/usage", usage.usage_report, name="usage-report"),
    path("v1/chat", streaming.chat, name="chat"),
    path("v1/chat/health", streaming.chat_health, name="chat-health"),
]
