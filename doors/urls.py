"""The doors' Django routes (the A2A JSON-RPC endpoint and `/mcp` are ASGI apps: see `doors.asgi`)."""

from django.urls import include, path

from doors.a2a_server.views import agent_card

urlpatterns = [
    path(".well-known/agent-card.json", agent_card, name="a2a-agent-card"),
    path("", include("doors.openai_api.urls")),
]
