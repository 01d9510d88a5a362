from typing import Any, cast

from asgiref.sync import async_to_sync
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from orchestrator_studio.audit import actor_of
from orchestrator_studio.auth import IsStaffForWrites
from orchestrator_studio.errors import ValidationFailed
from orchestrator_studio.schema import BODY_REQUIRED
from registry import serializers, tool_types
from registry.api import connector_serializers
from registry.api import datasource_serializers as datasource_shapes
from registry.connectors.agents import agent_call, agent_probe
from registry.connectors.arguments import argument_errors
from registry.connectors.datasources import (
    datasource_probe,
    datasource_query,
    datasource_schema,
    datasource_tables,
    datasources_health,
)
from registry.connectors.llm import llm_probe
from registry.connectors.llm_cache import cache_clear
from registry.connectors.tools import tool_test
from registry.models import NAME_RE, DataSource, ExternalAgent, LLMConfig, RegistryEntry, Tool
from registry.selectors import llm_config_default, registry_entries_shown
from registry.services import registry_entry_delete, registry_entry_save
from registry.validation import RELATIVE_PATH_OR_EMPTY_PATTERN

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

FILTER_PARAMETERS = [
    OpenApiParameter("enabled", bool, description="Only enabled (true) or disabled (false) entries."),
    OpenApiParameter("type", str, description="Only entries of this type (tools and datasources)."),
    OpenApiParameter("ordering", str, description="name, created_at or updated_at; '-' for descending."),
]


# The list filters mean nothing to a create, nor to the connectivity actions of one entry.
_NO_LIST_FILTERS = [OpenApiParameter(p.name, exclude=True) for p in FILTER_PARAMETERS]


@extend_schema(parameters=FILTER_PARAMETERS)
@extend_schema_view(create=extend_schema(parameters=_NO_LIST_FILTERS))
class RegistryViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """CRUD of one registry, addressed by `name`. Reads for any user, writes for staff."""

    lookup_field = "name"
    lookup_value_regex = NAME_RE.strip("^$")
    permission_classes = [IsStaffForWrites]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]
    model: type[RegistryEntry]

    def get_queryset(self) -> QuerySet[Any]:
        queryset: QuerySet[Any] = (
            registry_entries_shown(self.model)
            if self.action in ("list", "retrieve")
            else self.model._default_manager.all()
        )
        params = self.request.query_params
        if "enabled" in params:
            enabled = _BOOLEANS.get(params["enabled"].lower())
            if enabled is None:
                raise ValidationFailed("Invalid filter.", fields={"enabled": ["Use true or false."]})
            queryset = queryset.filter(enabled=enabled)
        if "type" in params and hasattr(self.model, "type"):
            queryset = queryset.filter(type=params["type"])
        return queryset

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = registry_entry_save(
            instance=self.model(), data=dict(serializer.validated_data), actor=actor_of(self.request.user)
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        instance = cast(RegistryEntry, serializer.instance)
        serializer.instance = registry_entry_save(
            instance=instance, data=dict(serializer.validated_data), actor=actor_of(self.request.user)
        )

    def perform_destroy(self, instance: RegistryEntry) -> None:
        registry_entry_delete(instance=instance, actor=actor_of(self.request.user))


class LLMConfigViewSet(RegistryViewSet):
    model = LLMConfig
    serializer_class = serializers.LLMConfigSerializer

    @extend_schema(
        request=None,
        responses=connector_serializers.LLMProbeResultSerializer,
        parameters=_NO_LIST_FILTERS,
        summary="Probe the LLM: list its models, then a 1-token completion (staff)",
        description="Always 200: `ok` false with the reason when the provider fails or cannot be reached.",
    )
    @action(detail=True, methods=["post"], url_path="test")
    def test_connection(self, request: Request, name: str | None = None) -> Response:
        return Response(async_to_sync(llm_probe)(self.get_object()).as_dict())

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=_NO_LIST_FILTERS,
        summary="Empty the config's response cache (staff)",
        description="Every process stops answering from what was cached for this config. 503 when the "
        "cache cannot be reached.",
    )
    @action(detail=True, methods=["delete"], url_path="cache")
    def cache(self, request: Request, name: str | None = None) -> Response:
        cache_clear(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExternalAgentViewSet(RegistryViewSet):
    model = ExternalAgent
    serializer_class = serializers.ExternalAgentSerializer

    @extend_schema(
        request=None,
        responses=connector_serializers.AgentProbeResultSerializer,
        parameters=_NO_LIST_FILTERS,
        summary="GET the agent's health path, or read an A2A agent's card (staff)",
        description="Always 200: `ok` false with the reason on an error status or no answer.",
    )
    @action(detail=True, methods=["post"], url_path="test")
    def test_connection(self, request: Request, name: str | None = None) -> Response:
        return Response(async_to_sync(agent_probe)(self.get_object()).as_dict())

    @extend_schema(
        request={"application/json": {"description": "The JSON payload sent to the agent as it is."}},
        parameters=[
            OpenApiParameter(
                "endpoint",
                {"type": "string", "pattern": RELATIVE_PATH_OR_EMPTY_PATTERN},
                description="A relative path instead of the agent's endpoint (empty: the agent's).",
            ),
            *_NO_LIST_FILTERS,
        ],
        responses=connector_serializers.AgentCallResultSerializer,
        summary='POST a payload to the agent, or send an A2A agent `{"task"}` as a message (staff)',
        description="The agent's JSON answer, or its text (capped); an A2A agent's task `{task_id, "
        "context_id, state, text, artifacts}`. 400 for an `endpoint` that is not a relative path (or any "
        "endpoint, for an A2A agent) and for an A2A call without `task`; otherwise 200 with `ok` false when "
        "the agent fails.",
    )
    @action(detail=True, methods=["post"], url_path="call")
    def call(self, request: Request, name: str | None = None) -> Response:
        agent = self.get_object()
        result = async_to_sync(agent_call)(
            agent, request.data, endpoint=request.query_params.get("endpoint") or None
        )
        return Response(result.as_dict())


class ToolViewSet(RegistryViewSet):
    model = Tool
    serializer_class = serializers.ToolSerializer

    @extend_schema(
        request=connector_serializers.ToolTestRequestSerializer,
        responses=connector_serializers.ToolTestResultSerializer,
        parameters=_NO_LIST_FILTERS,
        summary="Call the tool with arguments, or probe it without (staff)",
        description="400 when `arguments` break the tool's parameter schema; otherwise 200 with `ok` false "
        "and the reason when the call fails.",
    )
    @action(detail=True, methods=["post"], url_path="test")
    def test_connection(self, request: Request, name: str | None = None) -> Response:
        tool = self.get_object()
        body = connector_serializers.ToolTestRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        arguments = body.validated_data.get("arguments")
        if arguments is not None:
            errors = argument_errors(tool.parameters or {"type": "object"}, arguments)
            if errors:
                raise ValidationFailed("Invalid arguments.", fields={"arguments": errors})
        return Response(async_to_sync(tool_test)(tool, arguments))


_DATASOURCE_ERRORS = {
    400: datasource_shapes.DataSourceErrorSerializer,
    502: datasource_shapes.DataSourceErrorSerializer,
    504: datasource_shapes.DataSourceErrorSerializer,
}


class DataSourceViewSet(RegistryViewSet):
    model = DataSource
    serializer_class = serializers.DataSourceSerializer

    @extend_schema(
        request=None,
        responses=datasource_shapes.DataSourceProbeResultSerializer,
        parameters=_NO_LIST_FILTERS,
        summary="Test the connection: SELECT 1, Cube.js /meta or the HTTP /health (staff)",
        description="Always 200: `ok` false with the reason when the datasource cannot be reached.",
    )
    @action(detail=True, methods=["post"], url_path="test")
    def test_connection(self, request: Request, name: str | None = None) -> Response:
        return Response(async_to_sync(datasource_probe)(self.get_object()).as_dict())

    @extend_schema(
        request=datasource_shapes.DataSourceQueryRequestSerializer,
        responses={200: datasource_shapes.DataSourceQueryResultSerializer, **_DATASOURCE_ERRORS},
        parameters=_NO_LIST_FILTERS,
        summary="Run one read-only query (staff)",
        description="Postgres: one reading SQL statement (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN) in a "
        "READ ONLY transaction with the datasource's timeout as statement_timeout. Rows are capped at "
        "config.max_rows (default 1000), `truncated` says so. "
        "400: the datasource refused the query; 502: it failed or cannot be reached; 504: it did not "
        "answer within timeout_seconds.",
    )
    @action(detail=True, methods=["post"], url_path="query")
    def run_query(self, request: Request, name: str | None = None) -> Response:
        datasource = self.get_object()
        body = datasource_shapes.DataSourceQueryRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = async_to_sync(datasource_query)(
            datasource, body.validated_data["query"], body.validated_data.get("parameters")
        )
        return Response(result)

    @extend_schema(
        responses={200: datasource_shapes.DataSourceSchemaSerializer, **_DATASOURCE_ERRORS},
        parameters=_NO_LIST_FILTERS,
        summary="Tables (Cube.js: cubes) and their columns (cached for CACHE_TTL_SECONDS)",
    )
    @action(detail=True, methods=["get"], url_path="schema")
    def describe_schema(self, request: Request, name: str | None = None) -> Response:
        return Response(async_to_sync(datasource_schema)(self.get_object()))

    @extend_schema(
        responses={200: datasource_shapes.DataSourceTablesSerializer, **_DATASOURCE_ERRORS},
        parameters=_NO_LIST_FILTERS,
        summary="Names of the tables (Cube.js: cubes) (cached for CACHE_TTL_SECONDS)",
    )
    @action(detail=True, methods=["get"], url_path="tables")
    def list_tables(self, request: Request, name: str | None = None) -> Response:
        return Response(async_to_sync(datasource_tables)(self.get_object()))

    @extend_schema(
        responses=datasource_shapes.DataSourcesHealthSerializer,
        parameters=_NO_LIST_FILTERS,
        summary="Test every enabled datasource at once",
    )
    @action(detail=False, methods=["get"], url_path="health/all")
    def health_all(self, request: Request) -> Response:
        return Response(async_to_sync(datasources_health)())


@extend_schema(
    methods=["GET"],
    responses={200: serializers.LLMConfigSerializer, 404: connector_serializers.LLM_NOT_CONFIGURED},
    summary="The default LLM config",
)
@extend_schema(
    methods=["PUT"],
    request=serializers.LLMConfigSerializer(partial=True),
    responses={200: serializers.LLMConfigSerializer, 404: connector_serializers.LLM_NOT_CONFIGURED},
    summary="Update the default LLM config (partial updates accepted)",
    description="The body holds the fields to change (`{}`: none); a request with no body at all is 400.",
    extensions=BODY_REQUIRED,
)
@api_view(["GET", "PUT"])
@permission_classes([IsStaffForWrites])
def default_llm_config(request: Request) -> Response:
    if request.method == "PUT" and request.stream is None:
        raise ValidationFailed("Send a JSON body with the fields to change.")
    config = llm_config_default()
    if request.method == "PUT":
        serializer = serializers.LLMConfigSerializer(config, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        config = registry_entry_save(
            instance=config, data=dict(serializer.validated_data), actor=actor_of(request.user)
        )
    return Response(serializers.LLMConfigSerializer(config).data)


@extend_schema(responses=serializers.ToolTypeSerializer(many=True), summary="Tool types and their config")
@api_view(["GET"])
def tool_types_available(request: Request) -> Response:
    specs = [
        {
            "type": spec.type,
            "description": spec.description,
            "config_schema": spec.config_schema,
            "default_parameters": spec.default_parameters,
        }
        for spec in tool_types.TOOL_TYPES.values()
    ]
    return Response(specs)
