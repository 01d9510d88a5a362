"""Input the one way every door checks it: a DRF serializer's validated data, or `ValidationFailed` with the
fields (which every error path turns into the same `validation_error` envelope)."""

import threading
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator_studio.errors import ValidationFailed

# What a validation leaves on a serializer: cleared before the serializer checks other data.
_RESULTS = ("_validated_data", "_errors", "_data")
_serializers = threading.local()


def _serializer(serializer_class: type[serializers.Serializer], data: Any) -> serializers.Serializer:
    """A serializer of `serializer_class` bound to `data`: one per class and thread, reused. DRF builds a
    serializer's fields for every instance (a deep copy of each declared field, some ten times the cost of
    checking a run's options), though checking data keeps no state on them: only the serializer's own
    results, cleared here, differ from one input to the next."""
    reusable: dict[type[serializers.Serializer], serializers.Serializer] | None
    reusable = getattr(_serializers, "by_class", None)
    if reusable is None:
        reusable = _serializers.by_class = {}
    serializer = reusable.get(serializer_class)
    if serializer is None:
        serializer = reusable[serializer_class] = serializer_class(data=data)
        return serializer
    for result in _RESULTS:
        serializer.__dict__.pop(result, None)
    serializer.initial_data = data
    return serializer


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = _serializer(serializer_class, data)
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
