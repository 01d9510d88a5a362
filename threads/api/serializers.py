"""Shapes of the agent API (API.md, "Threads and runs", "Events", "Memory"): what comes in, what goes out."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.api.connector_serializers import UsageSerializer
from registry.models import LLMConfig
from threads.inputs import ObjectField, PromptField, RunOptionsSerializer, StrictBooleanField, StrictCharField
from threads.models import Message, Run, Thread, ToolCallApproval
from threads.selectors import run_tool_calls

# --- requests ---------------------------------------------------------------------------------------


class ThreadInitiateSerializer(serializers.Serializer):
    user_id = StrictCharField(
        required=False, allow_null=True, max_length=200, help_text="The end user; your username by default."
    )
    title = StrictCharField(required=False, allow_blank=True, max_length=300, default="")
    metadata = ObjectField(required=False, default=dict)


class ChatSerializer(RunOptionsSerializer):
    prompt = PromptField()
    thread_id = serializers.UUIDField(required=False, allow_null=True, help_text="Continue this thread.")
    user_id = StrictCharField(
        required=False, allow_null=True, max_length=200, help_text="End user of a new thread."
    )
    metadata = ObjectField(required=False, default=dict, help_text="Metadata of a new thread.")
    stream = StrictBooleanField(required=False, default=False, help_text="Answer with the SSE event stream.")


class ThreadUpdateSerializer(serializers.Serializer):
    title = StrictCharField(required=False, allow_blank=True, max_length=300)
    metadata = ObjectField(required=False)
    status = serializers.ChoiceField(choices=Thread.Status.choices, required=False)


class MemoryMessageAddSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=[Message.Role.USER, Message.Role.ASSISTANT, Message.Role.SYSTEM])
    content = PromptField()
    thread_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="The thread to add it to; the user's latest by default."
    )


# --- responses --------------------------------------------------------------------------------------


class ThreadCreatedSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class RunQueuedSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField()
    run_id = serializers.UUIDField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessageSerializer(serializers.ModelSerializer):
    thread_id = serializers.UUIDField(read_only=True)
    run_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id", "thread_id", "run_id", "role", "content", "tool_calls", "tool_call_id", "name",
            "prompt_tokens", "completion_tokens", "incomplete", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class ThreadSerializer(serializers.ModelSerializer):
    thread_id = serializers.UUIDField(source="id", read_only=True)

    class Meta:
        model = Thread
        fields = ["id", "thread_id", "user_id", "title", "metadata", "status", "created_at", "updated_at"]
        read_only_fields = fields


class ThreadDetailSerializer(ThreadSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ThreadSerializer.Meta):
        fields = [*ThreadSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ToolCallSerializer(serializers.Serializer):
    tool_call_id = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(required=False)
    arguments = serializers.JSONField()
    ok = serializers.BooleanField(allow_null=True, help_text="null while the call is still running.")
    output = serializers.JSONField(help_text="Any JSON value; null while the call is still running.")
    error = serializers.CharField(allow_null=True, required=False)
    latency_ms = serializers.FloatField(allow_null=True, required=False)


class RunSerializer(serializers.ModelSerializer):
    run_id = serializers.UUIDField(source="id", read_only=True)
    thread_id = serializers.UUIDField(read_only=True)
    llm_config: "serializers.SlugRelatedField[LLMConfig]" = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    usage = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id", "run_id", "thread_id", "status", "task", "options", "llm_config", "llm_model", "usage",
            "error", "cancel_requested", "ttft_ms", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(UsageSerializer)
    def get_usage(self, run: Run) -> dict[str, int]:
        return usage_of(run)

    @extend_schema_field(ErrorDetailSerializer(allow_null=True))
    def get_error(self, run: Run) -> dict[str, str] | None:
        return run.error or None


class RunEventSerializer(serializers.Serializer):
    type = serializers.CharField()
    thread_id = serializers.UUIDField()
    run_id = serializers.UUIDField()
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RunEvent"


class ToolCallApprovalSerializer(serializers.ModelSerializer):
    """A call that needed a person's decision: `pending` while the run waits for it."""

    class Meta:
        model = ToolCallApproval
        fields = [
            "tool_call_id",
            "name",
            "kind",
            "arguments",
            "status",
            "reason",
            "requested_at",
            "decided_at",
        ]
        read_only_fields = fields


class ApprovalDecisionSerializer(serializers.Serializer):
    """One decision (read by `threads.approvals.decisions_parse`; this says its shape in the OpenAPI)."""

    tool_call_id = serializers.CharField(min_length=1, max_length=100)
    approve = serializers.BooleanField()
    reason = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=2000, help_text="Told to the LLM."
    )


class RunApproveSerializer(serializers.Serializer):
    decisions = serializers.ListField(child=ApprovalDecisionSerializer(), min_length=1, max_length=128)


class RunApprovedSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.CharField(help_text="`queued` when these decisions settled the run's last call.")
    decided = serializers.IntegerField()
    resumed = serializers.BooleanField(help_text="The run was handed back to an executor.")


class RunDetailSerializer(RunSerializer):
    """A run with everything that happened in it, rebuilt from its stored events."""

    events = serializers.SerializerMethodField()
    tool_calls = serializers.SerializerMethodField()
    approvals = ToolCallApprovalSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "events", "tool_calls", "approvals"]
        read_only_fields = fields

    @extend_schema_field(RunEventSerializer(many=True))
    def get_events(self, run: Run) -> list[dict[str, Any]]:
        return [event.payload for event in run.events.all()]

    @extend_schema_field(ToolCallSerializer(many=True))
    def get_tool_calls(self, run: Run) -> list[dict[str, Any]]:
        return tool_calls_of(run)


def usage_of(run: Run) -> dict[str, int]:
    usage = run.usage or {}
    return {key: int(usage.get(key) or 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}


def tool_calls_of(run: Run) -> list[dict[str, Any]]:
    """The run's tool calls in the order they started; a call still running has `ok` and `output` null."""
    unfinished = {
        "kind": None,
        "arguments": None,
        "ok": None,
        "output": None,
        "error": None,
        "latency_ms": None,
    }
    return [{**unfinished, **call} for call in run_tool_calls(run=run)]


class ChatToolCallSerializer(serializers.Serializer):
    name = serializers.CharField()
    arguments = serializers.JSONField()
    ok = serializers.BooleanField(allow_null=True)
    output = serializers.JSONField(allow_null=True)


class ChatAnswerSerializer(serializers.Serializer):
    answer = serializers.CharField(allow_null=True)
    thread_id = serializers.UUIDField()
    run_id = serializers.UUIDField()
    execution_id = serializers.UUIDField(help_text="Same as run_id (the seed's name).")
    status = serializers.CharField()
    tool_calls = ChatToolCallSerializer(many=True)
    usage = UsageSerializer()
    error = ErrorDetailSerializer(allow_null=True)


# --- memory -----------------------------------------------------------------------------------------


class MemoryMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    thread_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


class MemoryHistorySerializer(serializers.Serializer):
    user_id = serializers.CharField()
    messages = MemoryMessageSerializer(many=True)


class ContextMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True, allow_null=True)
    tool_calls = serializers.JSONField(required=False, help_text="An assistant turn's function calls.")
    tool_call_id = serializers.CharField(required=False, help_text="The call a tool message answers.")


class MemoryContextSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    thread_id = serializers.UUIDField(
        allow_null=True, help_text="The user's latest thread; null without one."
    )
    messages = ContextMessageSerializer(many=True)
    estimated_tokens = serializers.IntegerField()
    budget_tokens = serializers.IntegerField()
    trimmed = serializers.BooleanField(help_text="Older turns are left out (and summarised).")


class ThreadSummaryItemSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField()
    title = serializers.CharField(allow_blank=True)
    summary = serializers.CharField()
    covers_until = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MemorySummarySerializer(serializers.Serializer):
    user_id = serializers.CharField()
    summaries = ThreadSummaryItemSerializer(many=True)


class MemoryStatsSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    message_count = serializers.IntegerField()
    thread_count = serializers.IntegerField()
    total_tokens = serializers.IntegerField(help_text="Estimated size of the stored messages, in tokens.")
    usage_tokens = serializers.IntegerField(help_text="What the LLM turns that wrote them cost.")
    first_at = serializers.DateTimeField(allow_null=True)
    last_at = serializers.DateTimeField(allow_null=True)


class MemoryConfigSerializer(serializers.Serializer):
    context_tokens = serializers.IntegerField(help_text="MEMORY_CONTEXT_TOKENS: history budget per LLM call.")
    chars_per_token = serializers.IntegerField()
    summary_budget_share = serializers.FloatField(help_text="Share of the budget kept for the summary.")
    summarize_older_turns = serializers.BooleanField()
    default_system_prompt = serializers.CharField()


class MemoryHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "down"])
    latency_ms = serializers.FloatField()
    message_count = serializers.IntegerField(help_text="Messages you can see.")
    thread_count = serializers.IntegerField(help_text="Threads you can see.")
