"""What users do: threads of messages, and the runs in which the assistant answers them.

The Run row is the durable record of a run, and the queue of the worker executor (queued rows are claimed
with `SELECT ... FOR UPDATE SKIP LOCKED`); its RunEvents are the ordered, replayable stream (`seq` from 1,
without gaps) that SSE and websocket clients read.
"""

import uuid

from django.conf import settings
from django.db import models


class Thread(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads")
    user_id = models.CharField(max_length=200, help_text="The end user's id as the client names it.")
    title = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"]),
            models.Index(fields=["user_id", "-updated_at"]),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey("Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    role = models.CharField(max_length=20, choices=Role.choices)
    content = models.TextField(blank=True)
    parts = models.JSONField(
        default=list,
        blank=True,
        help_text="Content parts (text and images) of a message that has images: sent to the LLM as its "
        "content list; `content` holds the text.",
    )
    tool_calls = models.JSONField(
        default=list, blank=True, help_text="OpenAI tool calls of an assistant turn."
    )
    tool_call_id = models.CharField(max_length=100, blank=True, help_text="The call a tool message answers.")
    name = models.CharField(max_length=100, blank=True)
    incomplete = models.BooleanField(
        default=False, help_text="The partial text of a run that was cancelled or failed while answering."
    )
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["thread", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        # Waiting for a person to approve or reject calls (API.md, "Human approval"); no executor holds it.
        REQUIRES_ACTION = "requires_action"

    ACTIVE_STATUSES = (Status.QUEUED, Status.IN_PROGRESS, Status.REQUIRES_ACTION)
    TERMINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    task = models.TextField()
    options = models.JSONField(default=dict, blank=True, help_text="use_tools, use_memory, parameters, ...")
    llm_config = models.ForeignKey(
        "registry.LLMConfig", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    llm_model = models.CharField(max_length=200, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True, help_text='{"code", "message"} of a failed run.')
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(
        default=1, help_text="Executions started: a run whose executor died is run again (RUN_MAX_ATTEMPTS)."
    )
    approval_pauses = models.PositiveIntegerField(
        default=0, help_text="Times the run stopped for a decision: an executor that claims it resumes it."
    )
    worker_id = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True, help_text="Time to the first token, in ms.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["thread", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["thread"],
                condition=models.Q(status__in=["queued", "in_progress", "requires_action"]),
                name="one_active_run_per_thread",
            )
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class ToolCallApproval(models.Model):
    """A call of a function that needs a person's decision (API.md, "Human approval"): stored when the LLM
    asks for it, decided over the API, the websocket or by the timeout sweep, then run or rejected by the
    executor that resumes the run."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    tool_call_id = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    announced = models.BooleanField(
        default=False, help_text="Its `tool_call.approval_decided` event is stored."
    )

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "tool_call_id"], name="one_approval_per_tool_call")
        ]
        indexes = [models.Index(fields=["status", "requested_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class RunEvent(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=50)
    payload = models.JSONField(default=dict, help_text="The event as sent to clients.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_run_event_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.type}"


class ThreadSummary(models.Model):
    """The running summary of a thread's older turns, made by the LLM, that stands in for them in context."""

    thread = models.OneToOneField(Thread, on_delete=models.CASCADE, related_name="summary")
    content = models.TextField()
    covers_until = models.DateTimeField(help_text="The last message the summary covers.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "thread summaries"

    def __str__(self) -> str:
        return f"Summary of {self.thread_id}"
