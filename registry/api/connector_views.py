"""Connectivity endpoints that are not about one registry entry: the default LLM's test, models and
health, every agent's health, and the function catalogue."""

from asgiref.sync import async_to_sync
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator_studio.auth import IsStaffForWrites
from orchestrator_studio.errors import NotFound
from orchestrator_studio.schema import error_response
from registry.api import connector_serializers as shapes
from registry.catalog import catalog_build
from registry.connectors.agents import agents_health
from registry.connectors.llm import llm_answer, llm_health, llm_models
from registry.connectors.tools import mcp_servers_health
from registry.models import LLMConfig
from registry.selectors import llm_config_default


@extend_schema(
    request=shapes.LLMTestRequestSerializer,
    responses={200: shapes.LLMTestResultSerializer, 404: shapes.LLM_NOT_CONFIGURED},
    summary="A real completion of the prompt with the default LLM config (staff)",
)
@api_view(["POST"])
@permission_classes([IsStaffForWrites])
def llm_test(request: Request) -> Response:
    serializer = shapes.LLMTestRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    config = llm_config_default()
    return Response(async_to_sync(llm_answer)(config, serializer.validated_data.get("prompt")))


@extend_schema(
    parameters=[
        OpenApiParameter("config", str, description="An LLM config's name (default: the default one).")
    ],
    responses={
        200: shapes.LLMModelsSerializer,
        404: error_response("No LLM config of that name (or, without `config`, none at all)."),
    },
    summary="The provider's models with their capabilities (the built-in list when unreachable)",
)
@api_view(["GET"])
def llm_models_list(request: Request) -> Response:
    name = request.query_params.get("config")
    if name:
        config = LLMConfig.objects.filter(name=name).first()
        if config is None:
            raise NotFound(f"No LLM config named {name!r}.")
    else:
        config = llm_config_default()
    return Response(async_to_sync(llm_models)(config))


@extend_schema(
    responses={200: shapes.LLMHealthSerializer, 404: shapes.LLM_NOT_CONFIGURED},
    summary="Whether the default LLM answers",
)
@api_view(["GET"])
def llm_health_check(request: Request) -> Response:
    return Response(async_to_sync(llm_health)(llm_config_default()))


@extend_schema(
    responses=shapes.AgentsHealthSerializer, summary="Health of every enabled agent, checked at once"
)
@api_view(["GET"])
def agents_health_all(request: Request) -> Response:
    return Response(async_to_sync(agents_health)())


@extend_schema(
    responses=shapes.ToolsHealthSerializer,
    summary="Health of every enabled MCP tool server (type mcp), checked at once",
)
@api_view(["GET"])
def tools_health_all(request: Request) -> Response:
    return Response(async_to_sync(mcp_servers_health)())


@extend_schema(
    responses=shapes.FunctionToolSerializer(many=True),
    summary="The OpenAI function tools a run would offer now (enabled tools, agents and datasources)",
)
@api_view(["GET"])
def tool_registry_schemas(request: Request) -> Response:
    return Response(async_to_sync(catalog_build)().openai_tools())
