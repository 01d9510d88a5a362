"""A2A tasks over the project's runs: task = run, context = thread. Everything is read from the database,
so any process answers `GetTask` and `ListTasks` for a run that another one executes."""

from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID

from a2a.types.a2a_pb2 import (
    Artifact,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from doors.services import CLIENT_CONTEXT_KEY, client_context_id
from threads.models import Message as ThreadMessage
from threads.models import Run
from threads.selectors import run_tool_calls, runs_visible_to

ANSWER_ARTIFACT_ID = "answer"
ANSWER_ARTIFACT_NAME = "answer"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

STATE_OF_RUN_STATUS = {
    Run.Status.QUEUED: TaskState.TASK_STATE_SUBMITTED,
    Run.Status.IN_PROGRESS: TaskState.TASK_STATE_WORKING,
    Run.Status.COMPLETED: TaskState.TASK_STATE_COMPLETED,
    Run.Status.FAILED: TaskState.TASK_STATE_FAILED,
    Run.Status.CANCELLED: TaskState.TASK_STATE_CANCELED,
    # A run waiting for a human decision (the approval feature).
    "requires_action": TaskState.TASK_STATE_INPUT_REQUIRED,
}
RUN_STATUSES_OF_STATE = {
    state: [status for status, mapped in STATE_OF_RUN_STATUS.items() if mapped == state]
    for state in set(STATE_OF_RUN_STATUS.values())
}


def task_state(status: str) -> TaskState:
    return STATE_OF_RUN_STATUS.get(status, TaskState.TASK_STATE_UNSPECIFIED)


def text_message(*, text: str, role: Role, task_id: str, context_id: str, message_id: str) -> Message:
    return Message(
        message_id=message_id, role=role, parts=[Part(text=text)], task_id=task_id, context_id=context_id
    )


def answer_artifact(text: str) -> Artifact:
    return Artifact(artifact_id=ANSWER_ARTIFACT_ID, name=ANSWER_ARTIFACT_NAME, parts=[Part(text=text)])


def timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def struct(value: dict[str, Any]) -> Struct:
    result = Struct()
    result.update(value)
    return result


@dataclass(frozen=True)
class RunView:
    """What a task shows of a run: its answer so far and its tool calls."""

    run: Run
    answer: str
    tool_calls: list[dict[str, Any]]


def run_view(run: Run) -> RunView:
    contents = ThreadMessage.objects.filter(run=run, role=ThreadMessage.Role.ASSISTANT).order_by(
        "created_at", "id"
    )
    calls = [
        {key: call.get(key) for key in ("name", "arguments", "ok", "output")}
        for call in run_tool_calls(run=run)
    ]
    return RunView(run=run, answer="".join(contents.values_list("content", flat=True)), tool_calls=calls)


def task_of(view: RunView, *, include_artifacts: bool = True) -> Task:
    run = view.run
    task_id, context_id = str(run.id), client_context_id(run.thread)
    status = TaskStatus(
        state=task_state(run.status),
        timestamp=timestamp(run.finished_at or run.started_at or run.created_at),
    )
    if run.error:
        status.message.CopyFrom(
            text_message(
                text=str(run.error.get("message") or run.error),
                role=Role.ROLE_AGENT,
                task_id=task_id,
                context_id=context_id,
                message_id=f"{task_id}-status",
            )
        )
    task = Task(
        id=task_id,
        context_id=context_id,
        status=status,
        history=[
            text_message(
                text=run.task, role=Role.ROLE_USER, task_id=task_id, context_id=context_id, message_id=task_id
            )
        ],
        metadata=struct({"tool_calls": view.tool_calls, "usage": run.usage or {}}),
    )
    if include_artifacts and view.answer:
        task.artifacts.append(answer_artifact(view.answer))
    return task


def _run_id(task_id: str) -> UUID:
    try:
        return UUID(task_id)
    except ValueError:
        raise TaskNotFoundError(message=f"Task {task_id} not found") from None


def task_run(*, user: User, task_id: str) -> Run:
    """The run behind a task the user may see (staff: any), else TaskNotFoundError."""
    run = runs_visible_to(user).filter(pk=_run_id(task_id)).first()
    if run is None:
        raise TaskNotFoundError(message=f"Task {task_id} not found")
    return run


def task_get(*, user: User, task_id: str) -> Task:
    return task_of(run_view(task_run(user=user, task_id=task_id)))


def _filtered(user: User, params: ListTasksRequest) -> QuerySet[Run]:
    runs = runs_visible_to(user)
    if params.context_id:
        named = Q(**{f"thread__metadata__{CLIENT_CONTEXT_KEY}": params.context_id})
        try:
            runs = runs.filter(named | Q(thread_id=UUID(params.context_id)))
        except ValueError:
            runs = runs.filter(named)
    if params.status:
        runs = runs.filter(status__in=RUN_STATUSES_OF_STATE.get(params.status, []))
    if params.HasField("status_timestamp_after"):
        after = params.status_timestamp_after.ToDatetime(tzinfo=UTC)
        runs = runs.filter(created_at__gt=after)
    return runs.order_by("-created_at", "-id")


def _page(params: ListTasksRequest) -> tuple[int, int]:
    size = params.page_size if params.HasField("page_size") else DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidParamsError(message=f"page_size must be from 1 to {MAX_PAGE_SIZE}.")
    try:
        offset = int(params.page_token or 0)
    except ValueError:
        raise InvalidParamsError(message="Invalid page_token.") from None
    if offset < 0:
        raise InvalidParamsError(message="Invalid page_token.")
    return size, offset


def tasks_list(*, user: User, params: ListTasksRequest) -> ListTasksResponse:
    """The user's tasks, newest first, `page_size` at a time (`page_token` is the offset of the next page)."""
    size, offset = _page(params)
    runs = _filtered(user, params)
    total = runs.count()
    page = list(runs[offset : offset + size])
    tasks = [task_of(run_view(run), include_artifacts=params.include_artifacts) for run in page]
    next_offset = offset + len(page)
    return ListTasksResponse(
        tasks=tasks,
        next_page_token=str(next_offset) if next_offset < total else "",
        page_size=size,
        total_size=total,
    )
