"""What administrators register: the LLM, external agents, tools and datasources.

Secrets sit in encrypted columns (`registry.fields`); the public `config` and `url` hold none. Validation
that needs more than one field lives in `clean()`, so the API (through services) and the admin share it.
"""

import copy
import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from registry import secrets, tool_types
from registry.fields import EncryptedJSONField, EncryptedTextField
from registry.validation import (
    has_credentials,
    validate_header_name,
    validate_header_safe,
    validate_http_url,
    validate_json_depth,
    validate_json_schema,
    validate_relative_path,
)

NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SECRET_SET_SUFFIX = "_set"  # noqa: S105 (`api_key_set`: a flag's name, not a secret)
Check = tuple[str, Callable[[], None]]
name_validator = RegexValidator(
    NAME_RE, "Use 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit."
)


def requires_approval_field() -> models.BooleanField:
    return models.BooleanField(
        default=False, help_text="A person approves or rejects each call before it runs (API.md: approval)."
    )


class RegistryEntry(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[name_validator])
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def secret_set(self, name: str) -> bool:
        """Whether the encrypted field `name` holds a secret. A row read by
        `registry.selectors.registry_entries_shown` says so from its stored ciphertext (`<name>_set`), without
        the secret being loaded or decrypted; any other row looks at the secret itself."""
        flag = self.__dict__.get(name + SECRET_SET_SUFFIX)
        return bool(getattr(self, name)) if flag is None else bool(flag)


class ReasoningEffort(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class LLMConfig(RegistryEntry):
    model = models.CharField(max_length=200, default="gpt-4o")
    base_url = models.URLField(  # noqa: DJ001 (API.md: null means OpenAI itself)
        max_length=500, null=True, blank=True, help_text="Empty: OpenAI. Else any OpenAI-compatible server."
    )
    api_key = EncryptedTextField(blank=True, help_text="Empty: the OPENAI_API_KEY environment variable.")
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_tokens = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    timeout_seconds = models.FloatField(
        default=60.0, validators=[MinValueValidator(1.0), MaxValueValidator(600.0)]
    )
    max_retries = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(10)])
    reasoning_effort = models.CharField(  # noqa: DJ001 (API.md: null means not a reasoning model)
        max_length=10, choices=ReasoningEffort.choices, null=True, blank=True
    )
    is_default = models.BooleanField(default=False)
    input_price_per_mtok = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="USD per million prompt tokens. Empty: the built-in price of a well-known model.",
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="USD per million completion tokens. Empty: the built-in price of a well-known model.",
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(30 * 24 * 3600)],
        help_text="Answer a repeated identical LLM turn from the cache for this long. Empty: no cache.",
    )
    accepts_images = models.BooleanField(
        default=False,
        help_text="The model takes image parts (a vision model): the OpenAI-compatible door passes a "
        "request's images on to it instead of refusing them.",
    )

    class Meta(RegistryEntry.Meta):
        verbose_name = "LLM config"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_llm_config"
            )
        ]

    def validate_constraints(self, exclude: Any = None) -> None:
        # One default is kept by moving the flag on save (registry.services), not by refusing the change.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})

    def clean(self) -> None:
        checks: list[Check] = [("api_key", lambda: validate_header_safe(self.api_key, field="api_key"))]
        if self.base_url:
            checks.append(("base_url", lambda: validate_http_url(self.base_url or "", checked_by_field=True)))
        raise_errors(checked(checks))


def default_agent_input_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]}


class AgentProtocol(models.TextChoices):
    HTTP = "http", "HTTP (POST /execute)"
    A2A = "a2a", "A2A (Agent2Agent v1.0)"


class ExternalAgent(RegistryEntry):
    url = models.URLField(max_length=500, help_text="The agent's http(s) base URL.")
    protocol = models.CharField(
        max_length=10,
        choices=AgentProtocol.choices,
        default=AgentProtocol.HTTP,
        help_text="http: the seed's POST to url+endpoint. a2a: the card at url/.well-known/agent-card.json.",
    )
    auth_token = EncryptedTextField(blank=True, help_text="Sent as 'Authorization: Bearer'.")
    endpoint = models.CharField(max_length=300, default="/execute")
    health_path = models.CharField(max_length=300, default="/health")
    timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    metadata = models.JSONField(default=dict, blank=True)
    input_schema = models.JSONField(default=default_agent_input_schema, blank=True)
    requires_approval = requires_approval_field()

    class Meta(RegistryEntry.Meta):
        verbose_name = "external agent"

    def clean(self) -> None:
        errors = checked(
            [
                ("url", lambda: validate_http_url(self.url, checked_by_field=True)),
                ("auth_token", lambda: validate_header_safe(self.auth_token, field="auth_token")),
                ("endpoint", lambda: validate_relative_path(self.endpoint)),
                ("health_path", lambda: validate_relative_path(self.health_path)),
                ("input_schema", lambda: validate_json_schema(self.input_schema)),
                ("metadata", lambda: validate_json_depth(self.metadata)),
            ]
        )
        if not isinstance(self.metadata, dict):
            errors["metadata"] = ["Must be a JSON object."]
        raise_errors(errors)


class Tool(RegistryEntry):
    type = models.CharField(max_length=30, choices=tool_types.ToolType.choices)
    config = models.JSONField(default=dict, blank=True, help_text="Per type; secret keys are kept apart.")
    secret_config = EncryptedJSONField(blank=True, editable=False)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="JSON Schema offered to the LLM. Empty: the type's default."
    )
    requires_approval = requires_approval_field()

    class Meta(RegistryEntry.Meta):
        indexes = [models.Index(fields=["type", "enabled"])]

    @property
    def full_config(self) -> dict[str, Any]:
        """The config with its real secrets, for connectors only."""
        return secrets.join_config(self.config, self.secret_config)

    def clean(self) -> None:
        if self.type not in tool_types.ToolType.values:
            raise ValidationError({"type": [f"Unknown tool type {self.type!r}."]})
        if not self.parameters:
            # A copy: an edit of this tool's parameters must never change the type's default.
            self.parameters = copy.deepcopy(tool_types.TOOL_TYPES[self.type].default_parameters)
        errors = checked([("parameters", lambda: validate_json_schema(self.parameters))])
        config_errors = config_secret_errors(self.config, self.secret_config)
        if not config_errors:
            config_errors = tool_types.config_errors(self.type, self.full_config)
        if config_errors:
            errors["config"] = config_errors
        name_problem = tool_types.function_prefix_problem(self.type, self.name)
        if name_problem:
            errors["name"] = [name_problem]
        raise_errors(errors)


class DataSourceType(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL"
    CUBEJS = "cubejs", "Cube.js"
    HTTP = "http", "HTTP"


class DataSource(RegistryEntry):
    type = models.CharField(max_length=20, choices=DataSourceType.choices)
    url = models.CharField(max_length=500, help_text="postgresql:// DSN, Cube.js base URL or HTTP base URL.")
    url_password = EncryptedTextField(blank=True, editable=False)
    auth_token = EncryptedTextField(blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    config = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"max_rows": 1000, "schema": "public"}'
    )
    secret_config = EncryptedJSONField(blank=True, editable=False)
    requires_approval = requires_approval_field()

    class Meta(RegistryEntry.Meta):
        verbose_name = "datasource"
        indexes = [models.Index(fields=["type", "enabled"])]

    @property
    def dsn(self) -> str:
        """The URL with its real password, for connectors only."""
        return secrets.join_dsn(self.url, self.url_password)

    @property
    def masked_url(self) -> str:
        return secrets.join_dsn(self.url, secrets.MASK) if self.secret_set("url_password") else self.url

    @property
    def full_config(self) -> dict[str, Any]:
        return secrets.join_config(self.config, self.secret_config)

    def clean(self) -> None:
        if self.type == DataSourceType.POSTGRES:
            if not self.url.startswith(("postgresql://", "postgres://")):
                raise ValidationError({"url": ["A postgres datasource needs a postgresql:// DSN."]})
        else:
            raise_errors(checked([("url", lambda: validate_http_url(self.url))]))
        if not isinstance(self.config, dict):
            raise ValidationError({"config": ["Must be a JSON object."]})
        errors = checked([("auth_token", lambda: validate_header_safe(self.auth_token, field="auth_token"))])
        config_errors = config_secret_errors(self.config, self.secret_config) + [
            f"{key} must be an integer from {low} to {high}."
            for key, (low, high) in DATASOURCE_LIMITS.items()
            if self.config.get(key) is not None and not _int_between(self.config[key], low, high)
        ]
        if not isinstance(self.config.get("allow_privileged_role", False), bool):
            config_errors.append("allow_privileged_role must be true or false.")
        if config_errors:
            errors["config"] = config_errors
        raise_errors(errors)


# Integer settings of a datasource's config: (lowest, highest).
DATASOURCE_LIMITS = {
    "max_rows": (1, 100_000),
    "max_result_bytes": (1_000, 100_000_000),
    "max_value_bytes": (100, 100_000_000),
}


def _int_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def checked(checks: list[Check]) -> dict[str, list[str]]:
    """Run every (field, check); the messages of those that failed, by field."""
    errors: dict[str, list[str]] = {}
    for field, check in checks:
        try:
            check()
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    return errors


def raise_errors(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def config_secret_errors(config: Any, secret_config: dict[str, Any]) -> list[str]:
    """What is wrong with a config beyond its type's schema: nesting too deep, a URL holding credentials, a
    secret or header that cannot travel in an HTTP header. No message shows a value."""
    errors = checked([("config", lambda: validate_json_depth(config))]).get("config", [])
    if errors or not isinstance(config, dict):
        return errors
    errors += [
        f"{key} must not hold credentials (user:password@): put the secret in auth_token, api_key or headers."
        for key, value in config.items()
        if isinstance(value, str) and value.startswith(("http://", "https://")) and has_credentials(value)
    ]
    for path, value in secret_config.items():
        checks: list[Check] = [(path, functools.partial(validate_header_safe, value, field=path))]
        if path.startswith("headers."):
            checks.append((path, functools.partial(validate_header_name, path.removeprefix("headers."))))
        errors += [message for messages in checked(checks).values() for message in messages]
    return errors
