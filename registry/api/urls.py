from django.urls import path
from rest_framework.routers import SimpleRouter

from registry.api import connector_views, views

router = SimpleRouter(trailing_slash=True)
# API.md writes actions without a trailing slash (`/api/agents/{name}/test`) and CRUD with one: accept both.
router.trailing_slash = "/?"
router.register("llm/configs", views.LLMConfigViewSet, basename="llm-config")
router.register("agents", views.ExternalAgentViewSet, basename="agent")
router.register("tools", views.ToolViewSet, basename="tool")
router.register("datasources", views.DataSourceViewSet, basename="datasource")

urlpatterns = [
    path("llm/config", views.default_llm_config, name="llm-config-default"),
    path("tools/types/available", views.tool_types_available, name="tool-types"),
    path("tools/registry/schemas", connector_views.tool_registry_schemas, name="tool-registry-schemas"),
    path("agents/health/all", connector_views.agents_health_all, name="agents-health-all"),
    path("tools/health/all", connector_views.tools_health_all, name="tools-health-all"),
    path("llm/test", connector_views.llm_test, name="llm-test"),
    path("llm/models", connector_views.llm_models_list, name="llm-models"),
    path("llm/health", connector_views.llm_health_check, name="llm-health"),
    *router.urls,
]
