"""The governance API: quotas and the audit log (staff only)."""

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer, Serializer

from governance import selectors
from governance.api import serializers
from governance.models import Quota
from governance.services import quota_delete, quota_save
from orchestrator_studio.audit import actor_of
from orchestrator_studio.auth import IsStaff
from orchestrator_studio.errors import ValidationFailed
from orchestrator_studio.models import AuditRecord


def query_params(serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
    """The request's query parameters, validated; 400 with the fields that are wrong."""
    query = serializer_class(data=request.query_params)
    if not query.is_valid():
        raise ValidationFailed(
            "Invalid query.", fields={k: [str(m) for m in v] for k, v in query.errors.items()}
        )
    return dict(query.validated_data)


@extend_schema(tags=["governance"])
class QuotaViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Quotas per user, and the default one (`user` null). Staff only."""

    permission_classes = [IsStaff]
    serializer_class = serializers.QuotaSerializer
    queryset = Quota.objects.select_related("user").order_by("id")
    ordering_fields = ["id", "created_at", "updated_at"]

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = quota_save(
            instance=Quota(), data=dict(serializer.validated_data), actor=actor_of(self.request.user)
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = quota_save(
            instance=cast(Quota, serializer.instance),
            data=dict(serializer.validated_data),
            actor=actor_of(self.request.user),
        )

    def perform_destroy(self, instance: Quota) -> None:
        quota_delete(instance=instance, actor=actor_of(self.request.user))


@extend_schema(tags=["governance"])
@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "object_type", str, description="llm_config, agent, tool, datasource, quota, api_token"
            ),
            OpenApiParameter("object_name", str),
            OpenApiParameter("actor", str, description="A username, or a command such as registry_import."),
            OpenApiParameter("since", serializers.MOMENT_SCHEMA, description="ISO date or date-time."),
        ]
    )
)
class AuditRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Who created, changed or deleted which part of the configuration, newest first. Staff only; records
    cannot be changed or deleted."""

    permission_classes = [IsStaff]
    serializer_class = serializers.AuditRecordSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[AuditRecord]:
        if self.action != "list":
            return AuditRecord.objects.all()
        return selectors.audit_records(**query_params(serializers.AuditQuerySerializer, self.request))
