"""Shapes of the connectivity endpoints (tests, calls, health, models, the function catalogue)."""

from rest_framework import serializers

from orchestrator_studio.inputs import ObjectField, StrictCharField
from orchestrator_studio.schema import error_response

# What every endpoint of the default LLM config answers while there is none.
LLM_NOT_CONFIGURED = error_response("No LLM config yet (`llm_not_configured`).")


class ProbeResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField()
    error = serializers.CharField(required=False, help_text="Why it failed; only when ok is false.")


class LLMProbeResultSerializer(ProbeResultSerializer):
    model = serializers.CharField()
    detail = serializers.CharField(required=False, help_text="What was checked; only when ok is true.")


class LLMHealthSerializer(LLMProbeResultSerializer):
    config = serializers.CharField(help_text="Name of the default LLM config.")


class LLMTestRequestSerializer(serializers.Serializer):
    prompt = StrictCharField(required=False, max_length=20_000, help_text="Default: a one-word ping.")


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class LLMTestResultSerializer(ProbeResultSerializer):
    model = serializers.CharField()
    response = serializers.CharField(required=False, help_text="The model's answer to the prompt.")
    usage = UsageSerializer(required=False)


class LLMModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    function_calling = serializers.BooleanField()
    reasoning_effort = serializers.BooleanField()


class LLMModelsSerializer(serializers.Serializer):
    models = LLMModelSerializer(many=True)
    # DRF's metaclass takes declared fields off the class, so this one may be called `source`.
    source = serializers.ChoiceField(choices=["provider", "builtin"])  # type: ignore[assignment]
    error = serializers.CharField(required=False, help_text="Why the provider's list is not shown (builtin).")


class AgentCardSkillSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()


class AgentCardSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.CharField()
    skills = AgentCardSkillSerializer(many=True)
    streaming = serializers.BooleanField()


class AgentProbeResultSerializer(ProbeResultSerializer):
    status_code = serializers.IntegerField(allow_null=True)
    card = AgentCardSerializer(required=False, help_text="An A2A agent's card; only when ok is true.")


class AgentCallResultSerializer(AgentProbeResultSerializer):
    response = serializers.JSONField(help_text="The agent's JSON answer, or its text (null without one).")


class AgentHealthRowSerializer(ProbeResultSerializer):
    name = serializers.CharField()


class AgentsHealthSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    healthy = serializers.IntegerField()
    agents = AgentHealthRowSerializer(many=True)


class ToolsHealthSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    healthy = serializers.IntegerField()
    tools = AgentHealthRowSerializer(many=True)


class ToolTestRequestSerializer(serializers.Serializer):
    arguments = ObjectField(
        required=False, help_text="Arguments as the LLM would pass them; without them the tool is probed."
    )


class ToolTestResultSerializer(ProbeResultSerializer):
    result = serializers.JSONField(required=False, help_text="The tool's output; only when ok is true.")


class FunctionDefinitionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.JSONField()


class FunctionToolSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["function"])
    function = FunctionDefinitionSerializer()
