from django.urls import path
from rest_framework.routers import SimpleRouter

from registry.api import views

router = SimpleRouter(trailing_slash=True)
router.register("llm/configs", views.LLMConfigViewSet, basename="llm-config")
router.register("agents", views.ExternalAgentViewSet, basename="agent")
router.register("tools", views.ToolViewSet, basename="tool")
router.register("datasources", views.DataSourceViewSet, basename="datasource")

urlpatterns = [
    path("llm/config", views.default_llm_config, name="llm-config-default"),
    path("tools/types/available", views.tool_types_available, name="tool-types"),
    *router.urls,
]
