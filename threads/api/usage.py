"""`GET /api/usage`: runs, tokens and cost grouped by user, model or day (API.md, "Cost, quotas and rate
limits")."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.serializers import MOMENT_SCHEMA, MomentField
from governance.api.views import query_params
from orchestrator_studio.errors import ValidationFailed
from threads.quotas import periods
from threads.usage import runs_between, usage_rows


class UsageQuerySerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=["user", "model", "day"], default="user")
    to = MomentField(
        required=False, end_of_day=True, help_text="End (excluded); a date: the end of that day."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # `from` is a keyword in Python: declared here under its API name.
        fields["from"] = MomentField(
            required=False, help_text="Start (included); default: this month's start."
        )
        return fields


class UsageRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="A username, a model or a day (YYYY-MM-DD).")
    runs = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField(allow_null=True, help_text="Null when no run of the row was priced.")


class UsageReportSerializer(serializers.Serializer):
    rows = UsageRowSerializer(many=True)
    to = serializers.DateTimeField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return fields


@extend_schema(
    tags=["usage"],
    parameters=[
        OpenApiParameter("group_by", str, enum=["user", "model", "day"], description="Default: user."),
        OpenApiParameter(
            "from", MOMENT_SCHEMA, description="ISO date or date-time (included); default: month start."
        ),
        OpenApiParameter(
            "to", MOMENT_SCHEMA, description="ISO date (that whole day) or date-time (excluded)."
        ),
    ],
    responses=UsageReportSerializer,
    summary="Runs, tokens and cost, grouped by user, model or day (staff: everyone's; others: their own)",
)
@api_view(["GET"])
def usage_report(request: Request) -> Response:
    query = query_params(UsageQuerySerializer, request)
    start = query.get("from") or periods().month_start
    end = query.get("to") or timezone.now()
    if end <= start:
        raise ValidationFailed("Invalid query.", fields={"to": ["Must be after 'from'."]})
    runs = runs_between(start, end)
    if not request.user.is_staff:
        runs = runs.filter(thread__owner_id=request.user.pk)
    body = {"rows": usage_rows(runs, group_by=query["group_by"]), "from": start, "to": end}
    return Response(UsageReportSerializer(body).data)
