from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from orchestrator_studio.auth import IsStaffForWrites
from orchestrator_studio.errors import ValidationFailed
from registry import tool_types
from registry.api import serializers
from registry.models import NAME_RE, DataSource, ExternalAgent, LLMConfig, RegistryEntry, Tool
from registry.selectors import llm_config_default
from registry.services import registry_entry_delete, registry_entry_save

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

FILTER_PARAMETERS = [
    OpenApiParameter("enabled", bool, description="Only enabled (true) or disabled (false) entries."),
    OpenApiParameter("type", str, description="Only entries of this type (tools and datasources)."),
    OpenApiParameter("ordering", str, description="name, created_at or updated_at; '-' for descending."),
]


@extend_schema(parameters=FILTER_PARAMETERS)
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
        queryset = self.model.objects.all()
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
        serializer.instance = registry_entry_save(instance=self.model(), data=dict(serializer.validated_data))

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        instance = cast(RegistryEntry, serializer.instance)
        serializer.instance = registry_entry_save(instance=instance, data=dict(serializer.validated_data))

    def perform_destroy(self, instance: RegistryEntry) -> None:
        registry_entry_delete(instance=instance)


class LLMConfigViewSet(RegistryViewSet):
    model = LLMConfig
    serializer_class = serializers.LLMConfigSerializer


class ExternalAgentViewSet(RegistryViewSet):
    model = ExternalAgent
    serializer_class = serializers.ExternalAgentSerializer


class ToolViewSet(RegistryViewSet):
    model = Tool
    serializer_class = serializers.ToolSerializer


class DataSourceViewSet(RegistryViewSet):
    model = DataSource
    serializer_class = serializers.DataSourceSerializer


@extend_schema(methods=["GET"], responses=serializers.LLMConfigSerializer, summary="The default LLM config")
@extend_schema(
    methods=["PUT"],
    request=serializers.LLMConfigSerializer,
    responses=serializers.LLMConfigSerializer,
    summary="Update the default LLM config (partial updates accepted)",
)
@api_view(["GET", "PUT"])
@permission_classes([IsStaffForWrites])
def default_llm_config(request: Request) -> Response:
    config = llm_config_default()
    if request.method == "PUT":
        serializer = serializers.LLMConfigSerializer(config, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        config = registry_entry_save(instance=config, data=dict(serializer.validated_data))
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
