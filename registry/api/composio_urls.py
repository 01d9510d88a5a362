"""Mounted at `/api/composio/` (see API.md, "Composio")."""

from django.urls import path

from registry.api import composio_views

urlpatterns = [
    path("toolkits", composio_views.ToolkitListView.as_view(), name="composio-toolkits"),
    path("tools", composio_views.ToolListView.as_view(), name="composio-tools"),
    path("connections", composio_views.ConnectionListView.as_view(), name="composio-connections"),
    path(
        "connections/<str:connection_id>",
        composio_views.ConnectionDetailView.as_view(),
        name="composio-connection",
    ),
]
