"""Input the one way every door checks it: a DRF serializer's validated data, or `ValidationFailed` with the
fields (which every error path turns into the same `validation_error` envelope)."""

from typing import Any

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
