"""Read-only admin for threads, runs and their events: what happened is a record, not something to edit
(runs are started and cancelled through the API)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from threads.models import Message, Run, RunEvent, Thread, ThreadSummary, ToolCallApproval
from threads.usage import thread_usage


def _cost_text(cost: Any) -> str:
    return "unpriced" if cost is None else f"${cost:.6f}"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = (
        "created_at", "role", "content", "incomplete", "name", "tool_call_id", "prompt_tokens",
        "completion_tokens",
    )  # fmt: skip
    readonly_fields = fields
    ordering = ("created_at",)


class RunInline(ReadOnlyInline):
    model = Run
    fields = ("created_at", "status", "llm_model", "usage", "finished_at")
    readonly_fields = fields
    ordering = ("-created_at",)


class ToolCallApprovalInline(ReadOnlyInline):
    """The calls that needed a person's decision: `pending` ones are what the run waits for."""

    model = ToolCallApproval
    verbose_name = "call needing approval"
    verbose_name_plural = "calls needing approval"
    fields = ("requested_at", "name", "kind", "arguments", "status", "reason", "decided_by", "decided_at")
    readonly_fields = fields
    ordering = ("requested_at",)
    show_change_link = False


class RunEventInline(ReadOnlyInline):
    model = RunEvent
    fields = ("seq", "type", "payload", "created_at")
    readonly_fields = fields
    ordering = ("seq",)
    show_change_link = False


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "user_id", "owner", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("id", "title", "user_id", "owner__username")
    list_select_related = ("owner",)
    inlines = (RunInline, MessageInline)
    readonly_fields = ("usage_and_cost",)

    @admin.display(description="Usage and cost (all runs)")
    def usage_and_cost(self, obj: Thread) -> str:
        usage = thread_usage(obj.pk)
        return (
            f"{usage['runs']} runs, {usage['prompt_tokens']} prompt + "
            f"{usage['completion_tokens']} completion tokens, {_cost_text(usage['cost_usd'])}"
        )


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "thread", "status", "llm_model", "total_tokens", "cost_usd", "ttft_ms", "created_at",
        "finished_at",
    )  # fmt: skip
    list_filter = ("status", "llm_model")
    search_fields = ("id", "thread__id", "thread__user_id", "worker_id")
    list_select_related = ("thread",)
    readonly_fields = (
        "thread",
        "status",
        "task",
        "options",
        "llm_config",
        "llm_model",
        "usage",
        "error",
        "cancel_requested",
        "approval_pauses",
        "worker_id",
        "heartbeat_at",
        "ttft_ms",
        "created_at",
        "started_at",
        "finished_at",
    )
    inlines = (ToolCallApprovalInline, RunEventInline)

    @admin.display(description="Tokens")
    def total_tokens(self, obj: Run) -> int:
        return int((obj.usage or {}).get("total_tokens") or 0)

    @admin.display(description="Cost (USD)")
    def cost_usd(self, obj: Run) -> str:
        return _cost_text((obj.usage or {}).get("cost_usd"))


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ("run", "seq", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("run__id",)
    ordering = ("-created_at",)


@admin.register(ThreadSummary)
class ThreadSummaryAdmin(ReadOnlyAdmin):
    list_display = ("thread", "covers_until", "updated_at")
    search_fields = ("thread__id", "thread__user_id")
