"""What users do to threads and runs. Each synchronous service is one transaction and raises
`orchestrator_studio.errors` DomainErrors; the async ones (`run_start`, `arun_cancel`) wrap them and then
talk to the channel layer and the executor.
"""

import copy
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from orchestrator_studio.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from orchestrator_studio.tracing import run_trace_options
from registry.models import LLMConfig
from registry.selectors import llm_config_default
from threads import executors
from threads.approvals import Decision, DecisionsApplied, decisions_apply
from threads.engine.broadcast import event_broadcast, event_broadcast_sync, event_build, events_broadcast
from threads.engine.control import CANCEL, SUPERSEDED, worker_identity
from threads.engine.db import connection_release
from threads.engine.events import RUN_CANCELLED, RUN_CREATED, RUN_FAILED, Event
from threads.engine.loop import Claim, run_claim_finish
from threads.engine.publisher import run_terminate
from threads.engine.rows import events_store, rows_insert
from threads.models import Message, Run, Thread, ThreadSummary
from threads.quotas import quota_check_start
from threads.recovery import run_orphan_fail

logger = logging.getLogger(__name__)

TITLE_MAX_CHARS = 300
TITLE_FROM_TASK_CHARS = 80
# SQLite (in-memory test databases in shared-cache mode) refuses a second writer at once instead of
# waiting; creating a run retries that briefly. Other databases wait on the lock themselves.
LOCKED_RETRIES = 20
LOCKED_RETRY_SECONDS = 0.05


# --- threads ----------------------------------------------------------------------------------------


def thread_build(
    *, owner, user_id: str | None = None, title: str = "", metadata: dict[str, Any] | None = None
) -> Thread:
    """A valid thread, not saved yet: `thread_create` saves it, `run_start` creates it with its first run."""
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationFailed("Invalid thread.", fields={"metadata": ["Must be a JSON object."]})
    if len(title) > TITLE_MAX_CHARS:
        raise ValidationFailed(
            "Invalid thread.", fields={"title": [f"At most {TITLE_MAX_CHARS} characters."]}
        )
    return Thread(owner=owner, user_id=user_id or owner.get_username(), title=title, metadata=metadata or {})


def thread_create(
    *, owner, user_id: str | None = None, title: str = "", metadata: dict[str, Any] | None = None
) -> Thread:
    thread = thread_build(owner=owner, user_id=user_id, title=title, metadata=metadata)
    thread.save(force_insert=True)
    return thread


def thread_update(
    *,
    thread: Thread,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    status: str | None = None,
) -> Thread:
    fields: dict[str, list[str]] = {}
    if title is not None and len(title) > TITLE_MAX_CHARS:
        fields["title"] = [f"At most {TITLE_MAX_CHARS} characters."]
    if metadata is not None and not isinstance(metadata, dict):
        fields["metadata"] = ["Must be a JSON object."]
    if status is not None and status not in Thread.Status.values:
        fields["status"] = [f"Must be one of: {', '.join(Thread.Status.values)}."]
    if fields:
        raise ValidationFailed("Invalid thread.", fields=fields)
    if title is not None:
        thread.title = title
    if metadata is not None:
        thread.metadata = metadata
    if status is not None:
        thread.status = status
    thread.save(update_fields=["title", "metadata", "status", "updated_at"])
    return thread


def thread_delete(*, thread: Thread) -> None:
    """Delete a thread with its messages and runs; an active run is cancelled first (its subscribers get
    `run.cancelled`, and the process executing it stops)."""
    events: list[Event] = []
    stopped: list[str] = []
    with transaction.atomic():
        for run in Run.objects.filter(thread=thread, status__in=Run.ACTIVE_STATUSES):
            event = _run_end_cancelled(run)
            if event is not None:
                events.append(event)
                stopped.append(str(run.id))
        thread.delete()
    for run_id in stopped:
        executors.run_stop_everywhere_local(run_id, SUPERSEDED)
    for event in events:
        event_broadcast_sync(event)


# --- runs -------------------------------------------------------------------------------------------


def _llm_config_choose(name: str | None) -> LLMConfig:
    if not name:
        return llm_config_default()
    config = LLMConfig.objects.filter(name=name).first()
    if config is None:
        raise ValidationFailed("Invalid run.", fields={"llm_config": [f"No LLM config named '{name}'."]})
    if not config.enabled:
        raise ValidationFailed(
            "Invalid run.", fields={"llm_config": [f"The LLM config '{name}' is disabled."]}
        )
    return config


def _run_create_once(
    *, thread: Thread, task: str, options: dict[str, Any], worker_id: str | None, parts: list[Any]
) -> tuple[Run, list[Event], Claim | None]:
    now = timezone.now()
    released: list[Event] = []
    new_thread = thread._state.adding
    try:
        with transaction.atomic():
            if new_thread:
                # A thread made for this run (/v1/chat): created with it.
                rows_insert([thread])
            else:
                # Writing the thread row first takes its lock on every database (a row lock on Postgres,
                # the write lock on SQLite, which would otherwise fail a read lock's upgrade instead of
                # waiting).
                untitled = Case(
                    When(title="", then=Value(task.strip()[:TITLE_FROM_TASK_CHARS])), default=F("title")
                )
                if not Thread.objects.filter(pk=thread.pk).update(updated_at=now, title=untitled):
                    raise NotFound("Thread not found.")
                active = Run.objects.filter(thread_id=thread.pk, status__in=Run.ACTIVE_STATUSES).first()
                if active is not None:
                    # A run orphaned by a dead process must not block its thread until the next sweep.
                    event = run_orphan_fail(active)
                    if event is None:
                        raise Conflict("This thread already has a run in progress.", code="run_active")
                    released.append(event)
            config = _llm_config_choose(options.get("llm_config"))
            quota = quota_check_start(user_id=thread.owner_id)
            run = Run(
                thread=thread,
                task=task,
                options={**options, **run_trace_options()},
                llm_config=config,
                llm_model=config.model,
            )
            if worker_id is not None:
                # Claimed for this process at once: stored in progress (nobody sees it before the commit).
                run.status = Run.Status.IN_PROGRESS
                run.started_at = run.heartbeat_at = now
                run.worker_id = worker_id
            rows_insert([run])
            queued = run
            if worker_id is not None:
                # The caller keeps the run as created (queued, as `run.created` says); the executor gets
                # the one stored.
                queued = copy.copy(run)
                queued.status, queued.started_at, queued.heartbeat_at, queued.worker_id = (
                    Run.Status.QUEUED,
                    None,
                    None,
                    "",
                )
            message = Message(thread=thread, run=run, role=Message.Role.USER, content=task, parts=parts)
            rows_insert([message])
            created = event_build(
                type=RUN_CREATED, thread_id=thread.pk, run_id=run.pk, seq=1, status="queued"
            )
            events = [created]
            claim = None
            if worker_id is not None:
                claim = run_claim_finish(
                    run, next_seq=2, quota=quota, new_thread_messages=[message] if new_thread else None
                )
                if claim.in_progress is not None:
                    events.append(claim.in_progress)
            events_store(events)
    except IntegrityError as exc:
        # Another request created the thread's active run between our check and insert.
        raise Conflict("This thread already has a run in progress.", code="run_active") from exc
    return queued, [*released, *events], claim


def _run_create(
    *,
    thread: Thread,
    task: str,
    options: dict[str, Any],
    worker_id: str | None = None,
    parts: list[Any] | None = None,
) -> tuple[Run, list[Event], Claim | None]:
    for attempt in range(LOCKED_RETRIES):
        try:
            return _run_create_once(
                thread=thread, task=task, options=options, worker_id=worker_id, parts=parts or []
            )
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(LOCKED_RETRY_SECONDS)
        finally:
            connection_release()
    raise AssertionError("unreachable")


def run_create(*, thread: Thread, task: str, options: dict[str, Any]) -> Run:
    """Store the user's message and a queued run with its `run.created` event (seq 1), in one transaction
    that locks the thread. `Conflict` (409, code `run_active`) when the thread has a queued or running run.

    `options`: `llm_config` (name; the default config when missing), `use_tools`, `use_memory`,
    `context_data`, `parameters` (`system_prompt`, `temperature`, `max_tokens` steer the LLM call; other keys
    are shown to the model with `context_data`). Does not start the run: `run_start` does.
    """
    run, events, _ = _run_create(thread=thread, task=task, options=options)
    for event in events:
        event_broadcast_sync(event)
    return run


async def run_start(
    *, thread: Thread, task: str, options: dict[str, Any], parts: list[Any] | None = None
) -> Run:
    """Create the run, publish `run.created`, and hand it to the executor. The run goes on whatever
    happens to the caller afterwards (a client that disconnects does not stop it).

    One transaction starts it: the thread (created here when `thread` is not saved yet, see
    `thread_build`), the user's message, the run, `run.created`, and with the inline executor the claim
    (`run.in_progress`) and the read of the context the first LLM turn gets. `parts`: the task's content
    parts when it has images (the OpenAI-compatible door, for a model that takes them)."""
    worker_id = worker_identity() if executors.claims_at_creation() else None
    # On the pooled threads: starts of many runs at once (a thousand websockets) go in parallel instead
    # of one after the other on the one thread-sensitive thread. `_run_create` gives its connection back.
    run, events, claim = await sync_to_async(_run_create, thread_sensitive=False)(
        thread=thread, task=task, options=options, worker_id=worker_id, parts=parts
    )
    await events_broadcast(events)
    try:
        await executors.run_dispatch(run_id=run.id, claim=claim)
    except Exception as exc:
        logger.error(
            "Could not hand run %s to the %s executor: %s", run.id, settings.RUN_EXECUTOR, type(exc).__name__
        )
        error = {"code": "executor_unavailable", "message": "The run could not be handed to a run worker."}
        failed = await sync_to_async(run_terminate)(
            run_id=run.id,
            thread_id=run.thread_id,
            type=RUN_FAILED,
            fields={"error": error},
            updates={"status": Run.Status.FAILED, "error": error},
        )
        if failed is not None:
            await event_broadcast(failed)
        raise ServiceUnavailable("The run could not be started: no run worker is reachable.") from exc
    return run


def _run_end_cancelled(run: Run, *, where: Q | None = None) -> Event | None:
    return run_terminate(
        run_id=run.id,
        thread_id=run.thread_id,
        type=RUN_CANCELLED,
        fields={"usage": run.usage or {}},
        updates={"status": Run.Status.CANCELLED, "cancel_requested": True},
        where=where,
    )


# Runs that no executor holds: a cancel ends them at once (a paused run's waiting calls never run).
UNCLAIMED_STATUSES = (Run.Status.QUEUED, Run.Status.REQUIRES_ACTION)


def _run_cancel(*, run: Run) -> tuple[Run, Event | None]:
    """A queued or paused run ends here and now; a running one is flagged for its executor (which ends it)."""
    with transaction.atomic():
        event = None
        if Run.objects.filter(pk=run.pk, status__in=UNCLAIMED_STATUSES).exists():
            # Only while still unclaimed: an executor that claimed it meanwhile gets the flag instead.
            event = _run_end_cancelled(run, where=Q(status__in=UNCLAIMED_STATUSES))
        if event is None:
            Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE_STATUSES).update(cancel_requested=True)
    run.refresh_from_db()
    return run, event


def run_cancel(*, run: Run) -> Run:
    """Cancel a run: it ends `cancelled` with `run.cancelled` (within a second for a running one, whichever
    process executes it). A run that already ended is returned unchanged."""
    run, event = _run_cancel(run=run)
    if event is not None:
        event_broadcast_sync(event)
    elif run.status in Run.ACTIVE_STATUSES:
        executors.run_stop_everywhere_local(run.id, CANCEL)
    return run


async def arun_cancel(*, run: Run) -> Run:
    run, event = await sync_to_async(_run_cancel)(run=run)
    if event is not None:
        await event_broadcast(event)
    elif run.status in Run.ACTIVE_STATUSES:
        executors.run_stop_everywhere_local(run.id, CANCEL)
    return run


async def arun_approve(*, run: Run, user: Any, decisions: list[Decision]) -> DecisionsApplied:
    """Decide calls the run waits for (the caller checked the user may see the run: its owner or staff).
    The decision that settles the last one hands the run back to the executor, which resumes it."""
    applied = await sync_to_async(decisions_apply)(run_id=run.id, decisions=decisions, decided_by_id=user.pk)
    await executors.decisions_announce(applied)
    return applied


# --- messages and memory ----------------------------------------------------------------------------

MESSAGE_ROLES = (Message.Role.USER, Message.Role.ASSISTANT, Message.Role.SYSTEM)


def message_create(*, thread: Thread, role: str, content: str) -> Message:
    """Add a message to a thread's memory by hand (not through a run)."""
    fields: dict[str, list[str]] = {}
    if role not in MESSAGE_ROLES:
        fields["role"] = [f"Must be one of: {', '.join(MESSAGE_ROLES)}."]
    if not isinstance(content, str) or not content.strip():
        fields["content"] = ["Must be a non-empty string."]
    if fields:
        raise ValidationFailed("Invalid message.", fields=fields)
    with transaction.atomic():
        message = Message.objects.create(thread=thread, role=role, content=content)
        Thread.objects.filter(pk=thread.pk).update(updated_at=timezone.now())
    return message


def memory_clear(*, owner, user_id: str, staff: bool) -> int:
    """Forget `user_id`'s conversation: the messages and summaries of their threads (the owner's only,
    unless `staff`). Threads, runs and their events stay. Returns how many messages were deleted."""
    threads = Thread.objects.filter(user_id=user_id)
    if not staff:
        threads = threads.filter(owner=owner)
    with transaction.atomic():
        deleted, _ = Message.objects.filter(thread__in=threads).delete()
        ThreadSummary.objects.filter(thread__in=threads).delete()
    return deleted
