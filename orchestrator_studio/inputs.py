"""Input the one way every door checks it: a DRF serializer's validated data, or `ValidationFailed` with the
fields (which every error path turns into the same `validation_error` envelope)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator_studio.errors import ValidationFailed


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        fields = {
            str(name): [str(m) for m in (errors if isinstance(errors, list) else [errors])]
            for name, errors in serializer.errors.items()
        }
        raise ValidationFailed("Invalid input.", fields=fields)
    return dict(serializer.validated_data)


class StrictBooleanField(serializers.BooleanField):
    """JSON `true`/`false` only: `"yes"` or `1` for a flag is far more often a client bug than intent."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON number without a fraction only: DRF's IntegerField would take `"5"`."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number only: DRF's FloatField would take `false` as 0.0 and `"1.5"` as 1.5."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would take `42` as "42"."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "object", "additionalProperties": True})
class ObjectField(serializers.JSONField):
    default_error_messages = {"invalid": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("invalid")
        return data
