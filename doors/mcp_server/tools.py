"""The tools `/mcp` offers: `ask` (a whole run) for everyone and, for staff, every function of the registry
catalogue, called through the same connectors, guards and timeouts as in a run (`catalog_call`)."""

import json
import logging
from typing import Any
from uuid import UUID

import mcp_types as types
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from doors.services import (
    door_llm_config,
    door_run_events,
    door_run_start,
    door_thread_create,
    door_thread_of,
)
from doors.transcript import RunTranscript
from orchestrator_studio.errors import DomainError
from registry.catalog import Catalog, catalog_build, catalog_call
from threads.engine.approval import OFFER_APPROVAL_FUNCTIONS
from threads.engine.metrics import run_metrics

logger = logging.getLogger(__name__)

ASK = "ask"
ASK_TOOL = types.Tool(
    name=ASK,
    title="Ask the assistant",
    description=(
        "Give the orchestrator's assistant a task. It runs with every tool, agent and datasource the "
        "company registered and answers in text. Pass `thread_id` (from an earlier answer) to continue "
        "that conversation."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "task": {"type": "string", "minLength": 1, "description": "What the assistant should do."},
            "thread_id": {"type": "string", "description": "Continue this thread (a UUID)."},
            "llm_config": {"type": "string", "description": "The LLM config to use (its name)."},
        },
        "required": ["task"],
    },
)
DOOR_METADATA = {"door": "mcp"}


def _text_result(text: str, *, error: bool, structured: dict[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=error
    )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


async def door_catalog() -> Catalog:
    """The registry's functions offered over MCP: those that need no approval (nobody here decides)."""
    return (await catalog_build()).without_approval()


async def tools_for(user: User) -> list[types.Tool]:
    tools = [ASK_TOOL]
    if user.is_staff:
        catalog = await door_catalog()
        tools += [
            types.Tool(name=spec.function_name, description=spec.description, input_schema=spec.parameters)
            for spec in catalog.functions.values()
        ]
    return tools


def _ask_arguments(arguments: dict[str, Any]) -> tuple[str, UUID | None, str | None]:
    task = arguments.get("task")
    if not isinstance(task, str) or not task.strip():
        raise DomainError("`task` must be a non-empty string.", code="validation_error")
    raw_thread = arguments.get("thread_id")
    thread_id = None
    if raw_thread is not None:
        try:
            thread_id = UUID(str(raw_thread))
        except ValueError:
            raise DomainError("`thread_id` must be a thread's UUID.", code="validation_error") from None
    llm_config = arguments.get("llm_config")
    if llm_config is not None and not isinstance(llm_config, str):
        raise DomainError("`llm_config` must be an LLM config's name.", code="validation_error")
    return task, thread_id, llm_config


def _llm_config_check(name: str | None) -> None:
    if name and door_llm_config(name) is None:
        raise DomainError(f"No enabled LLM config named '{name}'.", code="validation_error")


async def ask(user: User, arguments: dict[str, Any]) -> types.CallToolResult:
    """One run, start to end: its answer as text, `{"thread_id", "run_id", "status", "tool_calls"}` as
    structured content. A run that fails or is cancelled is an error result with what it said."""
    try:
        task, thread_id, llm_config = _ask_arguments(arguments)
        await sync_to_async(_llm_config_check)(llm_config)
        if thread_id is not None:
            thread = await sync_to_async(door_thread_of)(user=user, thread_id=thread_id)
        else:
            thread = await sync_to_async(door_thread_create)(owner=user, task=task, metadata=DOOR_METADATA)
        # An MCP client cannot decide on a call: functions that need approval are not offered.
        options: dict[str, Any] = {OFFER_APPROVAL_FUNCTIONS: False}
        if llm_config:
            options["llm_config"] = llm_config
        run = await door_run_start(thread=thread, task=task, options=options, thread_is_new=thread_id is None)
    except DomainError as exc:
        return _text_result(exc.message, error=True)
    transcript = RunTranscript(thread_id=str(run.thread_id), run_id=str(run.id))
    async for event in door_run_events(run):
        if event is not None:
            transcript.add(event)
    structured = transcript.summary()
    if transcript.status == "completed":
        return _text_result(transcript.answer, error=False, structured=structured)
    reason = (transcript.error or {}).get("message") or f"The run ended {transcript.status}."
    text = f"{reason}\n\n{transcript.answer}" if transcript.answer else reason
    return _text_result(text, error=True, structured=structured)


async def function_call(
    user: User, catalog: Catalog, name: str, arguments: dict[str, Any]
) -> types.CallToolResult:
    """A registry function called directly (staff), as a run would call it."""
    spec = catalog.functions[name]
    context = {"user_id": user.get_username(), "door": "mcp"}
    result = await catalog_call(catalog, name, arguments, context=context)
    run_metrics().tool_call(kind=spec.kind, ok=result.ok, latency_seconds=result.latency_ms / 1000)
    logger.info(
        "MCP call of %s by %s: ok=%s in %.0f ms", name, user.get_username(), result.ok, result.latency_ms
    )
    if result.ok:
        structured = result.output if isinstance(result.output, dict) else None
        return _text_result(_as_text(result.output), error=False, structured=structured)
    return _text_result(result.error or "The call failed.", error=True)
