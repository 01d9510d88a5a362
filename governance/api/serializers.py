"""Shapes of the governance API: quotas and the audit log; `MomentField` reads dates in queries."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.models import Quota
from orchestrator_studio.models import AuditRecord

# A MomentField as a query parameter of the OpenAPI document.
# (Empty: as if absent.)
MOMENT_SCHEMA = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}, {"maxLength": 0}]}


@extend_schema_field({"type": "string"})
class UsernameField(serializers.SlugRelatedField):
    """A username (null, or "" as DRF reads it for a relation: none)."""


class QuotaSerializer(serializers.ModelSerializer):
    user = UsernameField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        allow_null=True,
        required=False,
        help_text="A username; null: the default quota for everyone without one of their own.",
    )
    cost_usd_per_month = serializers.DecimalField(
        max_digits=14, decimal_places=4, min_value=0, allow_null=True, required=False, coerce_to_string=False
    )

    class Meta:
        model = Quota
        fields = [
            "id", "user", "tokens_per_day", "cost_usd_per_month", "runs_per_minute", "max_concurrent_runs",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is the service's to check (one quota per user, one default), with one message for both.
        validators: list[Any] = []


class MomentField(serializers.Field):
    """An ISO-8601 date-time, or a date: its midnight (UTC), or with `end_of_day` the midnight after it."""

    default_error_messages = {"invalid": "Use an ISO-8601 date (2026-01-31) or date-time."}

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data)
        try:
            # A date first: Python reads "2026-01-31" as a date-time too (its midnight).
            day = parse_date(text)
            moment = None if day else parse_datetime(text)
        except ValueError:
            self.fail("invalid")
        if day is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if self.end_of_day else start
        if moment is None:
            self.fail("invalid")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:
            # In UTC: Postgres refuses offsets past ±15:59 ("time zone displacement out of range").
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        return value.isoformat().replace("+00:00", "Z")


class AuditRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditRecord
        fields = ["id", "at", "actor", "action", "object_type", "object_name", "changes"]
        read_only_fields = fields


class AuditQuerySerializer(serializers.Serializer):
    object_type = serializers.CharField(required=False, max_length=50)
    object_name = serializers.CharField(required=False, max_length=200)
    actor = serializers.CharField(required=False, max_length=200)
    since = MomentField(required=False)
