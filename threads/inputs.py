"""What a run takes, the same through every door (REST execute, the websocket's `message` frame, /v1/chat):
the run's options and task as validated input, and the options `run_start` takes from them."""

from typing import Any

from rest_framework import serializers

from orchestrator_studio.inputs import ObjectField, StrictBooleanField, StrictCharField
from registry.models import LLMConfig

MAX_TASK_CHARS = 100_000


class PromptField(StrictCharField):
    """A task or prompt: 1 to 100000 characters, not only whitespace, kept exactly as sent."""

    # A websocket `message` frame without `content` reaches the serializer as null: it is missing.
    default_error_messages = {"null": "This field is required."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=1, max_length=MAX_TASK_CHARS, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not value.strip():
            self.fail("blank")
        return value


def validate_llm_config_name(name: str) -> None:
    config = LLMConfig.objects.filter(name=name).only("enabled").first()
    if config is None:
        raise serializers.ValidationError(f"No LLM config named '{name}'.")
    if not config.enabled:
        raise serializers.ValidationError(f"The LLM config '{name}' is disabled.")


class LLMConfigNameField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("max_length", 63)
        kwargs.setdefault("help_text", "Name of the LLM config to use; the default one when omitted.")
        super().__init__(validators=[validate_llm_config_name], **kwargs)


class RunOptionsSerializer(serializers.Serializer):
    """The options of one run, shared by execute, the websocket `message` frame and /v1/chat."""

    llm_config = LLMConfigNameField()
    use_tools = StrictBooleanField(
        required=False, default=True, help_text="Offer tools, agents, datasources."
    )
    use_memory = StrictBooleanField(
        required=False, default=True, help_text="Send earlier turns of the thread."
    )
    context_data = serializers.ListField(
        child=serializers.JSONField(), required=False, default=list, help_text="Extra context for this run."
    )
    parameters = ObjectField(required=False, default=dict)


class RunExecuteSerializer(RunOptionsSerializer):
    task = PromptField()


def run_options(data: dict[str, Any]) -> dict[str, Any]:
    """The options `run_start` takes, from validated execute/chat input (absent llm_config: the default)."""
    options: dict[str, Any] = {
        key: data[key] for key in ("use_tools", "use_memory", "context_data", "parameters") if key in data
    }
    if data.get("llm_config"):
        options["llm_config"] = data["llm_config"]
    return options
