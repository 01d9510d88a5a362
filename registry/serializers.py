"""Shapes of registry entries, shared by the API and the file import. Secrets are write-only: responses say
`<secret>_set` and mask config ones."""

import copy
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator_studio.inputs import (
    ObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from orchestrator_studio.representation import ReadersMixin
from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from registry.pricing import llm_prices
from registry.validation import RELATIVE_PATH_PATTERN

# What `registry.validation.validate_json_schema` accepts, as far as the OpenAPI document can say it.
OBJECT_JSON_SCHEMA = {
    "type": "object",
    "description": "A JSON Schema of an object.",
    "required": ["type"],
    "properties": {"type": {"type": "string", "enum": ["object"]}},
    "additionalProperties": True,
}


@extend_schema_field(OBJECT_JSON_SCHEMA)
class ObjectJsonSchemaField(ObjectField):
    pass


@extend_schema_field(
    {"anyOf": [OBJECT_JSON_SCHEMA, {"type": "object", "maxProperties": 0}], "description": "{}: the default."}
)
class ParametersField(ObjectField):
    pass


@extend_schema_field({"type": "string", "maxLength": 300, "pattern": RELATIVE_PATH_PATTERN})
class RelativePathField(StrictCharField):
    """Checked by the model (`validate_relative_path`); typed here so the OpenAPI document says it."""


def _secret_field(help_text: str) -> serializers.CharField:
    return StrictCharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=4096,
        help_text=help_text,
    )


@extend_schema_field({"type": "object", "additionalProperties": True})
class ConfigField(serializers.Field):
    """`config` with secret keys masked on the way out; reads the instance whole to reach its secrets."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, instance: Tool | DataSource) -> dict[str, Any]:
        from registry.secrets import join_config

        return join_config(instance.config, instance.secret_config, masked=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return {"config": data}


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 500})
class DsnField(serializers.Field):
    """A datasource URL; a DSN's password is write-only and shown as `****`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, instance: DataSource) -> str:
        return instance.masked_url

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, str) or not data or len(data) > 500:
            raise serializers.ValidationError("Must be a URL of at most 500 characters.")
        return {"url": data}


_STRICT_FIELDS: dict[type[serializers.Field], type[serializers.Field]] = {
    serializers.CharField: StrictCharField,
    serializers.BooleanField: StrictBooleanField,
    serializers.IntegerField: StrictIntegerField,
    serializers.FloatField: StrictFloatField,
}


class StrictModelSerializer(ReadersMixin, serializers.ModelSerializer):
    """JSON types as the OpenAPI document says them: a number for a text field, or `1` or `"yes"` for a
    flag, is refused (DRF's own fields would take `42` as "42"). Rows are shown through readers built once
    per list (`orchestrator_studio.representation`)."""

    serializer_field_mapping = {
        model_field: _STRICT_FIELDS.get(field, field)
        for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
    }

    def get_fields(self) -> dict[str, serializers.Field]:
        """Built from the model once per class (its fields, validators and options: the largest part of
        showing a page), then copied for each serializer the way DRF copies declared fields."""
        fields = _FIELDS_OF.get(type(self))
        if fields is None:
            fields = _FIELDS_OF[type(self)] = super().get_fields()
        return copy.deepcopy(fields)


_FIELDS_OF: dict[type[StrictModelSerializer], dict[str, serializers.Field]] = {}


def _price_field(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        coerce_to_string=False,
        help_text=help_text,
    )


class LLMConfigSerializer(StrictModelSerializer):
    api_key = _secret_field("Write-only. Empty: OPENAI_API_KEY from the environment.")
    api_key_set = serializers.SerializerMethodField()
    # Declared so DRF adds no uniqueness check from the one-default constraint: setting the flag moves it.
    is_default = StrictBooleanField(required=False, help_text="Setting it moves the flag here.")
    input_price_per_mtok = _price_field("USD per million prompt tokens; null: the built-in price, if any.")
    output_price_per_mtok = _price_field("USD per million completion tokens; null: the built-in price.")
    price_source = serializers.SerializerMethodField(
        help_text="Where the prices shown come from: config, builtin (the table), or null (unknown)."
    )

    class Meta:
        model = LLMConfig
        fields = [
            "name", "model", "base_url", "api_key", "api_key_set", "temperature", "max_tokens",
            "timeout_seconds", "max_retries", "reasoning_effort", "is_default", "enabled", "description",
            "input_price_per_mtok", "output_price_per_mtok", "price_source", "cache_ttl_seconds",
            "accepts_images", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def get_api_key_set(self, obj: LLMConfig) -> bool:
        return obj.secret_set("api_key")

    def get_price_source(self, obj: LLMConfig) -> str | None:
        prices = llm_prices(obj)
        return prices.source if prices else None

    def to_representation(self, instance: LLMConfig) -> dict[str, Any]:
        """Prices left null show the built-in table's, so that what a run will cost is visible."""
        data = super().to_representation(instance)
        prices = llm_prices(instance)
        if prices is not None:
            data["input_price_per_mtok"] = float(prices.input_per_mtok)
            data["output_price_per_mtok"] = float(prices.output_per_mtok)
        return data


class ExternalAgentSerializer(StrictModelSerializer):
    auth_token = _secret_field("Write-only. Sent to the agent as 'Authorization: Bearer'.")
    auth_token_set = serializers.SerializerMethodField()
    endpoint = RelativePathField(required=False, max_length=300)
    health_path = RelativePathField(required=False, max_length=300)
    metadata = ObjectField(required=False)
    input_schema = ObjectJsonSchemaField(required=False, help_text="JSON Schema of what the LLM passes.")

    class Meta:
        model = ExternalAgent
        fields = [
            "name", "url", "protocol", "auth_token", "auth_token_set", "endpoint", "health_path",
            "timeout_seconds", "enabled", "description", "metadata", "input_schema", "requires_approval",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def get_auth_token_set(self, obj: ExternalAgent) -> bool:
        return obj.secret_set("auth_token")


class ToolSerializer(StrictModelSerializer):
    config = ConfigField(required=False)
    parameters = ParametersField(
        required=False, help_text="JSON Schema offered to the LLM; default per type."
    )

    class Meta:
        model = Tool
        fields = [
            "name",
            "type",
            "description",
            "enabled",
            "config",
            "parameters",
            "requires_approval",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class DataSourceSerializer(StrictModelSerializer):
    url = DsnField()
    auth_token = _secret_field("Write-only. Sent as the Authorization header (Cube.js, HTTP).")
    auth_token_set = serializers.SerializerMethodField()
    config = ConfigField(required=False)

    class Meta:
        model = DataSource
        fields = [
            "name", "type", "url", "auth_token", "auth_token_set", "timeout_seconds", "enabled",
            "description", "config", "requires_approval", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def get_auth_token_set(self, obj: DataSource) -> bool:
        return obj.secret_set("auth_token")


class ToolTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
    config_schema = serializers.JSONField()
    default_parameters = serializers.JSONField()
