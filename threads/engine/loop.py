"""The orchestration loop of one run, plain async Python.

claim the run → `run.in_progress` → build the context (memory) → stream an LLM turn → run the tool calls it
asks for, all at once, each bounded by its resource's timeout → feed the results back → ... until a final
answer or `MAX_RUN_STEPS` → exactly one terminal event, whatever happened (try/finally).

The executor (`threads.executors`) runs this in a task and stops it through `RunControl`; nothing here
knows about requests, consumers or serializers.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from governance.models import Quota
from governance.selectors import quota_for_user
from orchestrator_studio.timing import elapsed_ms
from orchestrator_studio.tracing import trace_run, trace_tool_call
from registry.catalog import Catalog, catalog_build, catalog_call, catalog_entries
from registry.connectors.llm import LLMUnavailable, llm_client, llm_completion_options, model_capabilities
from registry.connectors.results import CallResult
from registry.models import LLMConfig
from registry.selectors import llm_config_default
from threads.engine import approval
from threads.engine.approval import PauseOutcome, RunPaused
from threads.engine.broadcast import event_build
from threads.engine.control import CANCEL, SUPERSEDED, RunControl
from threads.engine.db import connection_release
from threads.engine.events import (
    CONTEXT_TRIMMED,
    MESSAGE_COMPLETED,
    RUN_CANCELLED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_IN_PROGRESS,
    TOOL_CALL_APPROVAL_DECIDED,
    TOOL_CALL_APPROVAL_REQUIRED,
    TOOL_CALL_COMPLETED,
    TOOL_CALL_PROGRESS,
    TOOL_CALL_STARTED,
    Event,
    Usage,
    usage_zero,
)
from threads.engine.governed import RunSpend, llm_turn
from threads.engine.llm import (
    LLMFailure,
    ToolCallRequest,
    llm_complete_text,
    llm_failure,
    tool_arguments,
)
from threads.engine.metrics import run_metrics
from threads.engine.publisher import RunPublisher
from threads.engine.rows import events_store, rows_insert
from threads.engine.writer import RunSuperseded
from threads.memory import ContextPlan, context_plan, summary_update
from threads.models import Message, Run, RunEvent
from threads.quotas import QuotaExceeded, quota_token_budget, quota_token_overrun

logger = logging.getLogger(__name__)

T = TypeVar("T")

STEP_LIMIT_NOTE = (
    "I stopped here: this run reached its limit of {steps} steps (LLM turns) before I could finish. "
    "The results gathered so far are above; ask me to continue, or narrow the request."
)
INTERRUPTED_ERROR = {
    "code": "interrupted",
    "message": "The run was interrupted: the process executing it stopped.",
}
INTERNAL_ERROR = {
    "code": "internal_error",
    "message": "The run failed unexpectedly; the server log has details.",
}
NO_FUNCTIONS_ERROR = "No functions are offered in this run."
CUT_NOTE = "\n[output cut short: {shown} of {total} characters]"


@dataclass
class RunState:
    started: float = field(default_factory=time.perf_counter)
    usage: Usage = field(default_factory=usage_zero)
    ttft_ms: float | None = None
    model: str = ""
    step_limit_reached: bool = False
    spend: RunSpend = field(default_factory=RunSpend)
    # The tokens the run's user may still spend today (None: no daily quota), read when the run starts.
    token_budget: int | None = None
    # What the LLM has said so far in the turn it is streaming: kept as an incomplete message if the run
    # is cancelled or fails before the turn ends.
    partial: str = ""

    def add_usage(self, usage: Usage) -> None:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            self.usage[key] += usage[key]

    def first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = elapsed_ms(self.started)


# --- database steps (each runs in a thread) -----------------------------------------------------------


@dataclass
class Claim:
    """A run taken by this executor, as the claiming transaction left it: the next free seq, the stored
    `run.in_progress` to publish, and the context read in the same transaction (both None when a cancel was
    already asked: the run goes straight to `run.cancelled`). `end_user_id`: the thread's `user_id`, which
    the run's function calls are told."""

    run: Run
    next_seq: int
    in_progress: Event | None
    context: ContextPlan | None
    end_user_id: str = ""
    # The tokens the run's user may still spend today (None: no daily quota), read with the claim.
    token_budget: int | None = None
    # A run that paused for approval and was queued again by the decisions: it goes on where it stopped
    # (its context is read once its decided calls are answered).
    resume: bool = False


def run_claim_finish(
    run: Run, next_seq: int, *, quota: Quota | None, new_thread_messages: list[Message] | None = None
) -> Claim:
    """The rest of a claim, inside the claiming transaction (the run row is already marked in progress):
    `run.in_progress` built (the caller stores it with its other rows) and the context read (none for a
    thread created with the run: `new_thread_messages` are all it holds). `quota`: the one in force for
    the thread's owner (`quota_for_user`), which gives the run's token budget."""
    if run.cancel_requested:
        return Claim(run=run, next_seq=next_seq, in_progress=None, context=None)
    if run.approval_pauses:
        # Its `run.in_progress` was said when it first started: a resumed run goes on without one.
        return Claim(
            run=run,
            next_seq=next_seq,
            in_progress=None,
            context=None,
            end_user_id=run.thread.user_id,
            token_budget=quota_token_budget(user_id=run.thread.owner_id, quota=quota),
            resume=True,
        )
    event = event_build(type=RUN_IN_PROGRESS, thread_id=run.thread_id, run_id=run.id, seq=next_seq)
    context = context_plan(
        thread_id=run.thread_id,
        options=run.options,
        use_memory=run.options.get("use_memory", True),
        current_run_id=run.id,
        new_thread_messages=new_thread_messages,
    )
    return Claim(
        run=run,
        next_seq=next_seq + 1,
        in_progress=event,
        context=context,
        end_user_id=run.thread.user_id,
        token_budget=quota_token_budget(user_id=run.thread.owner_id, quota=quota),
    )


def runs_claim_queued(worker_id: str, limit: int) -> list[Claim]:
    """Take up to `limit` queued runs, oldest first, in one transaction: the queue of the worker executor.
    `FOR UPDATE SKIP LOCKED` lets executors claim at once without waiting for or taking each other's runs
    (SQLite has one writer at a time anyway)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            runs = list(
                Run.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("thread", "llm_config")
                .filter(status=Run.Status.QUEUED)
                .order_by("created_at")[:limit]
            )
            if not runs:
                return []
            Run.objects.filter(pk__in=[run.pk for run in runs]).update(
                status=Run.Status.IN_PROGRESS, started_at=now, heartbeat_at=now, worker_id=worker_id
            )
            last_seqs = dict(
                RunEvent.objects.filter(run_id__in=[run.pk for run in runs])
                .values("run_id")
                .annotate(last=Max("seq"))
                .values_list("run_id", "last")
            )
            claims = []
            for run in runs:
                run.status, run.started_at, run.heartbeat_at, run.worker_id = (
                    Run.Status.IN_PROGRESS,
                    now,
                    now,
                    worker_id,
                )
                quota = quota_for_user(run.thread.owner_id)
                claims.append(run_claim_finish(run, (last_seqs.get(run.pk) or 0) + 1, quota=quota))
            events_store(claim.in_progress for claim in claims if claim.in_progress is not None)
        return claims
    finally:
        connection_release()


def _llm_config_for(run: Run) -> LLMConfig:
    config = run.llm_config or llm_config_default()
    if run.llm_model != config.model:
        Run.objects.filter(pk=run.pk).update(llm_model=config.model, llm_config=config)
    return config


def _assistant_message_store(
    run: Run, content: str, tool_calls: list[ToolCallRequest], usage: Usage, *, incomplete: bool = False
) -> Message:
    message = Message(
        thread_id=run.thread_id,
        run=run,
        role=Message.Role.ASSISTANT,
        content=content,
        tool_calls=[call.as_openai() for call in tool_calls],
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        incomplete=incomplete,
    )
    rows_insert([message])
    return message


def _tool_messages_store(run: Run, answers: list[tuple[ToolCallRequest, str]]) -> None:
    rows_insert(
        [
            Message(
                thread_id=run.thread_id,
                run=run,
                role=Message.Role.TOOL,
                content=content,
                tool_call_id=call.id,
                name=call.name[:100],
            )
            for call, content in answers
        ]
    )


def _run_cancel_requested(run_id: UUID) -> bool:
    return Run.objects.filter(pk=run_id, cancel_requested=True).exists()


def _run_status(run_id: UUID) -> str:
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first() or Run.Status.CANCELLED


def _released(function: Callable[..., T]) -> Callable[..., T]:
    """`function` then give the connection back to the pool: the run waits on the LLM or tools next."""

    def step(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connection_release()

    return step


async def _db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A database step of the run on a pooled thread (no thread of its own per run: a run's few steps
    between its start and end transactions need none), its connection released afterwards."""
    return await sync_to_async(_released(function), thread_sensitive=False)(*args, **kwargs)


# --- the run ------------------------------------------------------------------------------------------


async def run_execute(claim: Claim, *, control: RunControl | None = None) -> None:
    """Execute a run claimed for this process (by its creator with the inline executor, or from the queue,
    `runs_claim_queued`) to its terminal event."""
    control = control or RunControl()
    run = claim.run
    publisher = RunPublisher(run_id=run.id, thread_id=run.thread_id, next_seq=claim.next_seq)
    state = RunState(model=run.llm_model, token_budget=claim.token_budget)
    if claim.resume:
        state.usage, state.spend = approval.usage_restore(run.usage or {})
    run_metrics().run_started()
    outcome: Outcome | None = None
    interrupted = False
    trace = contextlib.ExitStack()
    run_span = trace.enter_context(trace_run(run_id=run.id, thread_id=run.thread_id, options=run.options))
    try:
        context = claim.context
        if context is None and not claim.resume:
            control.stop(CANCEL)
            raise asyncio.CancelledError(CANCEL)
        control.checkpoint()
        final = await _run_steps(run, context, claim.end_user_id, publisher, state, control)
        outcome = Outcome(
            RUN_COMPLETED,
            {"usage": state.usage, "step_limit_reached": state.step_limit_reached},
            {"status": Run.Status.COMPLETED},
            final,
        )
    except (RunSuperseded, RunPaused):
        outcome = None
    except asyncio.CancelledError:
        # From here on the run is ending: the executor must not cancel it again mid-way.
        control.ending = True
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        if control.reason == SUPERSEDED:
            outcome = None
        elif control.reason == CANCEL or await _db(_run_cancel_requested, run.id):
            outcome = Outcome(
                RUN_CANCELLED, {"usage": state.usage}, {"status": Run.Status.CANCELLED}, _partial(state)
            )
        else:
            interrupted = True
            outcome = _failed(INTERRUPTED_ERROR, state)
    except LLMFailure as exc:
        outcome = _failed({"code": exc.code, "message": exc.message}, state)
    except QuotaExceeded as exc:
        outcome = _failed(exc.as_run_error(), state)
    except Exception:
        logger.exception("Run %s failed unexpectedly", run.id)
        outcome = _failed(INTERNAL_ERROR, state)
    finally:
        control.ending = True
        # The usage stored with the run and sent with its terminal event says what it cost.
        state.usage.update(state.spend.usage_fields())  # type: ignore[typeddict-item]
        status = await _run_end(publisher, outcome, state, run)
        run_span.run_finished(status=status, error_code=_error_code(outcome))
        trace.close()
        run_metrics().run_cost(model=state.model, cost_usd=state.usage.get("cost_usd"))
        run_metrics().run_finished(
            status=status,
            model=state.model,
            duration_seconds=time.perf_counter() - state.started,
            ttft_seconds=state.ttft_ms / 1000 if state.ttft_ms is not None else None,
            prompt_tokens=state.usage["prompt_tokens"],
            completion_tokens=state.usage["completion_tokens"],
        )
    if interrupted:
        raise asyncio.CancelledError


def _error_code(outcome: "Outcome | None") -> str | None:
    error = outcome.updates.get("error") if outcome else None
    return error.get("code") if isinstance(error, dict) else None


@dataclass
class FinalMessage:
    """The run's last assistant message, stored with its terminal event (one transaction ends the run)."""

    content: str
    usage: Usage
    # The partial text of a cancelled or failed run (API.md, "Runs: what a cancel keeps").
    incomplete: bool = False


@dataclass
class Outcome:
    type: str
    fields: dict[str, Any]
    updates: dict[str, Any]
    final: FinalMessage | None = None


def _failed(error: dict[str, str], state: RunState) -> Outcome:
    return Outcome(
        RUN_FAILED,
        {"error": error, "usage": state.usage},
        {"status": Run.Status.FAILED, "error": error},
        _partial(state),
    )


def _partial(state: RunState) -> "FinalMessage | None":
    """What the assistant had said of the turn it was streaming, kept as its incomplete message."""
    if not state.partial:
        return None
    return FinalMessage(content=state.partial, usage=usage_zero(), incomplete=True)


async def _run_end(publisher: RunPublisher, outcome: Outcome | None, state: RunState, run: Run) -> str:
    """Write the terminal event (after the final message and its `message.completed`, in the same
    transaction); returns the run's final status."""
    if outcome is None:
        await publisher.close()
        return await _db(_run_status, publisher.run_id)
    updates = {**outcome.updates, "usage": state.usage, "ttft_ms": state.ttft_ms}
    final = outcome.final
    closing = None
    if final is not None:

        def message_store() -> dict[str, Any]:
            message = _assistant_message_store(
                run, final.content, [], final.usage, incomplete=final.incomplete
            )
            fields = {"message_id": str(message.id), "role": "assistant", "content": final.content}
            return {**fields, "incomplete": True} if final.incomplete else fields

        closing = (MESSAGE_COMPLETED, message_store)
    try:
        event = await publisher.terminate(
            outcome.type, fields=outcome.fields, updates=updates, closing=closing
        )
    except Exception:
        # The heartbeat stops with this task, so recovery fails the run later; nothing is left hanging.
        logger.exception("Could not store the end of run %s", publisher.run_id)
        return Run.Status.FAILED
    if event is None:
        return await _db(_run_status, publisher.run_id)
    return updates["status"]


async def _run_steps(
    run: Run,
    context: ContextPlan | None,
    end_user_id: str,
    publisher: RunPublisher,
    state: RunState,
    control: RunControl,
) -> FinalMessage:
    """The LLM turns and tool calls of a run; returns its final message (stored with the terminal event).
    `context` None: a run resumed after approval, whose decided calls are answered before it is read."""
    config = run.llm_config
    if config is None or run.llm_model != config.model:
        config = await _db(_llm_config_for, run)
    state.model = config.model
    try:
        client = llm_client(config)
    except LLMUnavailable as exc:
        raise llm_failure(exc, config) from None
    options = _completion_options(config, run.options)
    catalog: Catalog | None = None
    if run.options.get("use_tools", True) and model_capabilities(config.model)["function_calling"]:
        # The registry's rows read on a pooled thread, like the run's other steps (not on the one shared
        # thread-sensitive thread, which every run of the process would queue for).
        catalog = await catalog_build(await _db(catalog_entries))
        if run.options.get(approval.OFFER_APPROVAL_FUNCTIONS) is False:
            catalog = catalog.without_approval()
    tools = catalog.openai_tools() if catalog else []
    if context is None:
        answers = await _decided_calls_execute(run, end_user_id, catalog, publisher)
        await _db(_tool_messages_store, run, answers)
        context = await _db(
            context_plan,
            thread_id=run.thread_id,
            options=run.options,
            use_memory=run.options.get("use_memory", True),
            current_run_id=run.id,
        )
    messages = await _context_messages(run, context, config, client, options, publisher, state)

    async def on_delta(text: str) -> None:
        state.partial += text
        await publisher.delta(text)

    for _ in range(settings.MAX_RUN_STEPS):
        control.checkpoint()
        # Over the day's tokens after a turn and its calls: the run ends here, `quota_exceeded`.
        overrun = quota_token_overrun(budget=state.token_budget, used=state.usage["total_tokens"])
        if overrun is not None:
            raise overrun
        turn, cached = await llm_turn(
            client=client,
            config=config,
            options=options,
            messages=messages,
            tools=tools,
            on_delta=on_delta,
            on_first_token=state.first_token,
            on_cache_lookup=lambda hit: run_metrics().llm_cache_lookup(hit=hit),
        )
        state.add_usage(turn.usage)
        state.spend.add(config, turn.usage, cached=cached)
        state.partial = ""
        control.checkpoint()
        if not turn.tool_calls:
            # A final answer always completes its message (even an empty one), with the terminal event.
            return FinalMessage(content=turn.content, usage=turn.usage)
        # A turn that only calls functions has a message to complete only when it also said something.
        # The message and its `message.completed` are stored in one transaction.
        if turn.content:
            content = turn.content
            await publisher.emit_stored(
                functools.partial(_assistant_message_store, run, content, turn.tool_calls, turn.usage),
                MESSAGE_COMPLETED,
                functools.partial(_message_completed_fields, content=content),
            )
        else:
            await _db(_assistant_message_store, run, turn.content, turn.tool_calls, turn.usage)
        messages.append(
            {
                "role": "assistant",
                "content": turn.content or None,
                "tool_calls": [c.as_openai() for c in turn.tool_calls],
            }
        )
        gated = approval.calls_needing_approval(catalog, turn.tool_calls)
        answers = await _tool_calls_execute(run, end_user_id, catalog, turn.tool_calls, publisher, gated)
        await _db(_tool_messages_store, run, answers)
        if gated:
            await _approvals_wait(run, publisher, state, control)
            decided = await _decided_calls_execute(run, end_user_id, catalog, publisher)
            await _db(_tool_messages_store, run, decided)
            answers += decided
        messages.extend(
            {"role": "tool", "tool_call_id": call.id, "content": content} for call, content in answers
        )

    state.step_limit_reached = True
    note = STEP_LIMIT_NOTE.format(steps=settings.MAX_RUN_STEPS)
    await publisher.delta(note)
    return FinalMessage(content=note, usage=usage_zero())


def _message_completed_fields(message: Message, *, content: str) -> dict[str, Any]:
    return {"message_id": str(message.id), "role": "assistant", "content": content}


def _completion_options(config: LLMConfig, run_options: dict[str, Any]) -> dict[str, Any]:
    """The config's options, with the run's `parameters.temperature` / `parameters.max_tokens` on top."""
    options = llm_completion_options(config)
    parameters = run_options.get("parameters") or {}
    if not isinstance(parameters, dict):
        return options
    temperature = parameters.get("temperature")
    if (
        "temperature" in options
        and isinstance(temperature, int | float)
        and not isinstance(temperature, bool)
    ):
        options["temperature"] = min(2.0, max(0.0, float(temperature)))
    max_tokens = parameters.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        options["max_tokens" if "temperature" in options else "max_completion_tokens"] = max_tokens
    return options


async def _context_messages(
    run: Run,
    plan: ContextPlan,
    config: LLMConfig,
    client: Any,
    options: dict[str, Any],
    publisher: RunPublisher,
    state: RunState,
) -> list[dict[str, Any]]:
    if plan.trimmed:

        async def summarize(messages: list[dict[str, Any]]) -> str:
            text, usage = await llm_complete_text(
                client=client, config=config, options=options, messages=messages
            )
            state.add_usage(usage)
            state.spend.add(config, usage, cached=False)
            return text

        summarized = await summary_update(plan, thread_id=run.thread_id, summarize=summarize)
        await publisher.emit(
            CONTEXT_TRIMMED,
            dropped_messages=plan.dropped_messages,
            kept_messages=plan.kept_messages,
            estimated_tokens=plan.estimated_tokens,
            budget_tokens=plan.budget_tokens,
            summarized=summarized,
        )
    return plan.messages()


# --- tool calls ---------------------------------------------------------------------------------------


def _capped(text: str) -> str:
    limit = settings.TOOL_OUTPUT_MAX_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + CUT_NOTE.format(shown=limit, total=len(text))


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _answer_for_llm(result: CallResult) -> str:
    if result.ok:
        return _capped(_as_text(result.output))
    failure: dict[str, Any] = {"error": result.error or "The call failed."}
    if result.output is not None:
        failure["output"] = result.output
    return _capped(_as_text(failure))


def _output_for_event(output: Any) -> Any:
    """The output as it came, unless it is too big for an event: then the capped text the LLM saw."""
    text = _as_text(output)
    return output if len(text) <= settings.TOOL_OUTPUT_MAX_CHARS else _capped(text)


async def _tool_calls_execute(
    run: Run,
    end_user_id: str,
    catalog: Catalog | None,
    calls: list[ToolCallRequest],
    publisher: RunPublisher,
    gated: set[str],
) -> list[tuple[ToolCallRequest, str]]:
    """Run every call of one LLM turn concurrently but the `gated` ones, which are stored to wait for a
    decision (`tool_call.approval_required`); returns (call, answer for the LLM) of the calls that ran."""
    kinds = {call.id: _kind(catalog, call.name) for call in calls}
    parsed = {call.id: tool_arguments(call) for call in calls}
    for call in calls:
        arguments, _ = parsed[call.id]
        await publisher.emit(
            TOOL_CALL_STARTED,
            tool_call_id=call.id,
            name=call.name,
            kind=kinds[call.id],
            arguments=arguments if arguments is not None else call.arguments_json,
        )
    for call in calls:
        if call.id in gated:
            await publisher.emit_stored(
                functools.partial(
                    approval.approval_request_store,
                    run_id=run.id,
                    call=call,
                    kind=kinds[call.id],
                    arguments=parsed[call.id][0] or {},
                ),
                TOOL_CALL_APPROVAL_REQUIRED,
                approval.approval_required_fields,
            )
    context = _call_context(run, end_user_id)
    free = [call for call in calls if call.id not in gated]
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                _tool_call_one(catalog, call, parsed[call.id], kinds[call.id], context, publisher)
            )
            for call in free
        ]
    return _answers(run, free, tasks)


def _answers(
    run: Run, calls: list[ToolCallRequest], tasks: list["asyncio.Task[str | None]"]
) -> list[tuple[ToolCallRequest, str]]:
    answers: list[tuple[ToolCallRequest, str]] = []
    for call, task in zip(calls, tasks, strict=True):
        answer = task.result()
        if answer is None:
            raise RunSuperseded(str(run.id))
        answers.append((call, answer))
    return answers


def _call_context(run: Run, end_user_id: str) -> dict[str, Any]:
    return {"thread_id": str(run.thread_id), "run_id": str(run.id), "user_id": end_user_id}


async def _approvals_wait(run: Run, publisher: RunPublisher, state: RunState, control: RunControl) -> None:
    """Announce the decisions made while the turn's other calls ran, then pause the run (`RunPaused`)
    unless every call is decided already (the run then goes on here)."""
    while True:
        for approval_pk in await _db(approval.approvals_unannounced, run.id):
            await publisher.emit_stored(
                functools.partial(approval.approval_announce, approval_pk),
                TOOL_CALL_APPROVAL_DECIDED,
                approval.approval_decided_fields,
            )
        control.checkpoint()
        usage = {**state.usage, **state.spend.usage_fields()}
        outcome = await _db(approval.run_pause, run_id=run.id, worker_id=run.worker_id, usage=usage)
        if outcome is PauseOutcome.DECIDED:
            return
        if outcome is PauseOutcome.PAUSED:
            await publisher.close()
            raise RunPaused(str(run.id))
        if outcome is PauseOutcome.CANCEL:
            control.stop(CANCEL)
            raise asyncio.CancelledError(CANCEL)
        if outcome is PauseOutcome.GONE:
            raise RunSuperseded(str(run.id))


async def _decided_calls_execute(
    run: Run, end_user_id: str, catalog: Catalog | None, publisher: RunPublisher
) -> list[tuple[ToolCallRequest, str]]:
    """The decided calls of the last turn: approved ones run (their `tool_call.started` was said before
    the pause), rejected ones are answered `ok: false` without being called."""
    decided = await _db(approval.calls_decided, run.id)
    context = _call_context(run, end_user_id)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                _tool_call_one(
                    catalog,
                    item.call,
                    tool_arguments(item.call),
                    _kind(catalog, item.call.name),
                    context,
                    publisher,
                )
                if item.approve
                else _tool_call_rejected(item, _kind(catalog, item.call.name), publisher)
            )
            for item in decided
        ]
    return _answers(run, [item.call for item in decided], tasks)


async def _tool_call_rejected(item: approval.DecidedCall, kind: str, publisher: RunPublisher) -> str | None:
    result = CallResult(ok=False, output=None, latency_ms=0.0, error=approval.rejection_error(item.reason))
    return await _tool_call_report(item.call, kind, result, publisher)


def _kind(catalog: Catalog | None, function_name: str) -> str:
    spec = catalog.functions.get(function_name) if catalog else None
    return spec.kind if spec else "tool"


async def _tool_call_one(
    catalog: Catalog | None,
    call: ToolCallRequest,
    parsed: tuple[dict[str, Any] | None, str | None],
    kind: str,
    context: dict[str, Any],
    publisher: RunPublisher,
) -> str | None:
    """One call, start to `tool_call.completed`; the answer for the LLM (None: the run was superseded)."""
    started = time.perf_counter()
    arguments, problem = parsed
    if catalog is None:
        result = CallResult(ok=False, output=None, latency_ms=0.0, error=NO_FUNCTIONS_ERROR)
    elif arguments is None:
        result = CallResult(ok=False, output=None, latency_ms=0.0, error=problem)
    else:

        async def progress(text: str) -> None:
            # A superseded run stops at its `tool_call.completed`; a progress note is not worth failing on.
            with contextlib.suppress(RunSuperseded):
                await publisher.emit(TOOL_CALL_PROGRESS, tool_call_id=call.id, text=text)

        with trace_tool_call(name=call.name, call_id=call.id, kind=kind, arguments=arguments) as span:
            try:
                result = await catalog_call(
                    catalog, call.name, arguments, context=context, on_progress=progress
                )
            except Exception:
                logger.exception("Function %s failed unexpectedly", call.name)
                latency = elapsed_ms(started)
                error = f"{call.name} failed unexpectedly."
                result = CallResult(ok=False, output=None, latency_ms=latency, error=error)
            span.tool_finished(ok=result.ok, error=result.error, output=result.output)
    run_metrics().tool_call(kind=kind, ok=result.ok, latency_seconds=result.latency_ms / 1000)
    return await _tool_call_report(call, kind, result, publisher)


async def _tool_call_report(
    call: ToolCallRequest, kind: str, result: CallResult, publisher: RunPublisher
) -> str | None:
    """`tool_call.completed`; the answer for the LLM (None: the run was superseded)."""
    fields: dict[str, Any] = {
        "tool_call_id": call.id,
        "name": call.name,
        "kind": kind,
        "ok": result.ok,
        "output": _output_for_event(result.output),
        "latency_ms": result.latency_ms,
    }
    if not result.ok:
        fields["error"] = result.error or "The call failed."
    try:
        await publisher.emit(TOOL_CALL_COMPLETED, **fields)
    except RunSuperseded:
        return None
    return _answer_for_llm(result)
