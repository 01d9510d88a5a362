"""A2A agents: remote agents spoken to with the Agent2Agent protocol (v1.0, JSON-RPC binding; cards with
only 0.3 fields are read through the SDK's compatibility layer), with the official `a2a-sdk`.

The card comes from `url + /.well-known/agent-card.json` (cached for `A2A_CARD_CACHE_SECONDS`, refreshed by
a probe and by any edit of the agent); messages go to the card's JSON-RPC interface. Both addresses pass
the egress guard before anything is sent, and every request the SDK makes passes it again. An agent whose
card says it streams is sent `SendStreamingMessage` and its status updates are reported as progress; any
other is sent the message without waiting and its task is polled. A call cancelled while its task still
works (the run's cancel, or the agent's timeout) sends `CancelTask`. The agent's token is sent as
`Authorization: Bearer` and scrubbed from everything that comes back.
"""

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from a2a.client import A2ACardResolver, AgentCardResolutionError, ClientConfig, ClientFactory
from a2a.client.client import Client
from a2a.types.a2a_pb2 import (
    AgentCard,
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from a2a.utils.errors import A2AError
from django.conf import settings

from orchestrator_studio.cache import shared_cache
from orchestrator_studio.egress import egress_check
from orchestrator_studio.errors import DomainError
from orchestrator_studio.http import connection_failure_reason, guarded_async_client, origin_of
from orchestrator_studio.timing import elapsed_ms
from registry.connectors.results import AgentCallResult, ProbeResult
from registry.connectors.scrub import scrub
from registry.models import ExternalAgent

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str], Awaitable[None]]

JSONRPC = "JSONRPC"
# A probe answers quickly or the agent is not healthy, whatever its call timeout.
MAX_PROBE_SECONDS = 10.0
CANCEL_TIMEOUT_SECONDS = 5.0
# A card that could not be read is not asked for again by every run starting for this long.
FAILED_CARD_SECONDS = 30
POLL_FIRST_SECONDS = 0.2
POLL_MAX_SECONDS = 2.0
# A task stopped for the user's input is resumed by the next message of the same thread for this long.
PENDING_TASK_SECONDS = 24 * 3600
MAX_TEXT_CHARS = 64 * 1024
# The conversation (`contextId`) a thread has with remote agents: a name-based UUID of the thread's id.
CONTEXT_NAMESPACE = uuid.UUID("5b0e8f3c-2f7a-4d0e-9c39-0d6f1c2a7a21")

STATE_NAMES = {
    TaskState.TASK_STATE_SUBMITTED: "submitted",
    TaskState.TASK_STATE_WORKING: "working",
    TaskState.TASK_STATE_COMPLETED: "completed",
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_CANCELED: "canceled",
    TaskState.TASK_STATE_INPUT_REQUIRED: "input-required",
    TaskState.TASK_STATE_REJECTED: "rejected",
    TaskState.TASK_STATE_AUTH_REQUIRED: "auth-required",
}
# States in which the agent waits for the user: the LLM hears the question, the call is not a failure.
INTERRUPTED_STATES = frozenset({"input-required", "auth-required"})
FINAL_STATES = frozenset({"completed", "failed", "canceled", "rejected"}) | INTERRUPTED_STATES


class A2AAgentError(DomainError):
    """The A2A agent could not be reached, or did not do what was asked; the message holds no secret."""

    status_code = 502
    code = "agent_error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.http_status = status_code


def a2a_context_id(thread_id: str) -> str:
    """The `contextId` of a thread's messages: stable per thread, and not the thread's own id."""
    return str(uuid.uuid5(CONTEXT_NAMESPACE, f"thread:{thread_id}"))


def _headers(agent: ExternalAgent) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent.auth_token}"} if agent.auth_token else {}


def _scrubbed(agent: ExternalAgent, text: str) -> str:
    return scrub(text, [agent.auth_token])


# --- the card ---------------------------------------------------------------------------------------


def _card_url(agent: ExternalAgent) -> str:
    return agent.url.rstrip("/") + AGENT_CARD_WELL_KNOWN_PATH


def _card_cache_key(agent: ExternalAgent) -> str:
    """Changes with any edit of the agent (its `updated_at`), so an edit reads the card afresh."""
    identity = json.dumps([agent.pk, agent.name, agent.url, str(agent.updated_at)])
    return "registry:a2a-card:" + hashlib.sha256(identity.encode()).hexdigest()


def _interface_url(card: AgentCard) -> str:
    for interface in card.supported_interfaces:
        if interface.protocol_binding == JSONRPC and interface.url:
            return interface.url
    raise A2AAgentError(f"The agent card of '{card.name}' offers no JSON-RPC interface.")


async def _card_fetch(agent: ExternalAgent, http: httpx.AsyncClient) -> AgentCard:
    card_url = _card_url(agent)
    await egress_check(card_url)  # refused before anything is sent
    try:
        card = await A2ACardResolver(http, agent.url).get_agent_card()
    except AgentCardResolutionError as exc:
        raise _card_failure(card_url, exc) from None
    if not card.name:
        raise A2AAgentError(f"The agent card at {origin_of(card_url)} has no name: not an A2A agent card.")
    await egress_check(_interface_url(card))
    return card


def _card_failure(card_url: str, exc: AgentCardResolutionError) -> A2AAgentError:
    where = origin_of(card_url)
    cause = exc.__cause__
    if exc.status_code is not None:
        return A2AAgentError(
            f"The agent card at {where} answered HTTP {exc.status_code}.", status_code=exc.status_code
        )
    if isinstance(cause, httpx.TimeoutException):
        return A2AAgentError(f"The agent card at {where} did not answer in time.")
    if isinstance(cause, httpx.ConnectError):
        return A2AAgentError(f"Cannot reach the agent card at {where}: {connection_failure_reason(cause)}.")
    if isinstance(cause, httpx.HTTPError):
        return A2AAgentError(f"Reading the agent card at {where} failed ({type(cause).__name__}).")
    # Not JSON, or JSON that is not an agent card.
    return A2AAgentError(f"The agent card at {where} is not a valid A2A agent card.", status_code=200)


async def a2a_card(agent: ExternalAgent, http: httpx.AsyncClient, *, refresh: bool = False) -> AgentCard:
    """The agent's card, from the cache unless `refresh`."""
    key = _card_cache_key(agent)
    cache = shared_cache()
    if not refresh:
        cached = await cache.aget(key)
        if isinstance(cached, bytes):
            return AgentCard.FromString(cached)
    card = await _card_fetch(agent, http)
    await cache.aset(key, card.SerializeToString(), settings.A2A_CARD_CACHE_SECONDS)
    return card


def a2a_card_cached(agent: ExternalAgent) -> dict[str, Any] | None:
    """The summary of the cached card, if any (what the admin shows after a connection test)."""
    cached = shared_cache().get(_card_cache_key(agent))
    return card_summary(AgentCard.FromString(cached)) if isinstance(cached, bytes) else None


def card_summary(card: AgentCard) -> dict[str, Any]:
    """What `/test` shows of a card."""
    return {
        "name": card.name,
        "description": card.description,
        "version": card.version,
        "skills": [
            {"id": skill.id, "name": skill.name, "description": skill.description} for skill in card.skills
        ],
        "streaming": bool(card.capabilities.streaming),
    }


def card_function_description(card: AgentCard) -> str:
    """A run's function description for an agent the registry does not describe: its card's."""
    text = card.description or f"The A2A agent '{card.name}'."
    skills = "; ".join(
        f"{skill.name}: {skill.description}" if skill.description else skill.name for skill in card.skills
    )
    return f"{text} Skills: {skills}." if skills else text


async def a2a_function_description(agent: ExternalAgent) -> str:
    """The description a run offers for this agent: the registry's, else its card's (cached)."""
    if agent.description:
        return agent.description
    fallback = f"Delegate a task to the A2A agent '{agent.name}'."
    unavailable_key = _card_cache_key(agent) + ":unavailable"
    if await shared_cache().aget(unavailable_key):
        return fallback
    try:
        async with _http(agent, MAX_PROBE_SECONDS) as http, asyncio.timeout(MAX_PROBE_SECONDS):
            card = await a2a_card(agent, http)
    except (DomainError, TimeoutError) as exc:
        logger.warning(
            "The card of A2A agent %s is unavailable: %s", agent.name, getattr(exc, "message", "timeout")
        )
        # Runs starting meanwhile do not each wait for an agent that is down (a probe reads it at once).
        await shared_cache().aset(unavailable_key, True, FAILED_CARD_SECONDS)
        return fallback
    return card_function_description(card)


@asynccontextmanager
async def _http(agent: ExternalAgent, timeout_seconds: float) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_async_client(timeout=timeout_seconds, headers=_headers(agent)) as http:
        yield http


async def a2a_probe(agent: ExternalAgent) -> ProbeResult:
    """Read and validate the card afresh: `{"ok", "latency_ms", "status_code", "card"}`."""
    started = time.perf_counter()
    timeout_seconds = min(float(agent.timeout_seconds), MAX_PROBE_SECONDS)
    try:
        async with _http(agent, timeout_seconds) as http, asyncio.timeout(timeout_seconds):
            card = await a2a_card(agent, http, refresh=True)
    except TimeoutError:
        error = f"The agent card at {origin_of(agent.url)} did not answer within {timeout_seconds:g}s."
        return ProbeResult(
            ok=False, latency_ms=elapsed_ms(started), error=error, detail={"status_code": None}
        )
    except A2AAgentError as exc:
        detail = {"status_code": exc.http_status}
        return ProbeResult(ok=False, latency_ms=elapsed_ms(started), error=exc.message, detail=detail)
    except DomainError as exc:
        return ProbeResult(
            ok=False, latency_ms=elapsed_ms(started), error=exc.message, detail={"status_code": None}
        )
    return ProbeResult(
        ok=True, latency_ms=elapsed_ms(started), detail={"status_code": 200, "card": card_summary(card)}
    )


# --- calls ------------------------------------------------------------------------------------------


@dataclass
class A2AOutcome:
    """Where a task got to: what `/call` shows as `response`, and what a run hands the LLM."""

    task_id: str = ""
    context_id: str = ""
    state: str = "submitted"
    status_text: str = ""
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def text(self) -> str:
        parts = [part.text for artifact in self.artifacts.values() for part in artifact.parts if part.text]
        text = "\n".join(parts) if parts else self.status_text
        return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "\n[... cut short]"

    def response(self, agent: ExternalAgent) -> dict[str, Any]:
        artifacts = [_artifact_json(artifact) for artifact in self.artifacts.values()]
        return json.loads(
            _scrubbed(
                agent,
                json.dumps(
                    {
                        "task_id": self.task_id,
                        "context_id": self.context_id,
                        "state": self.state,
                        "text": self.text(),
                        "artifacts": artifacts,
                    }
                ),
            )
        )

    def take_task(self, task: Task) -> None:
        self.task_id, self.context_id = task.id, task.context_id
        self.state = STATE_NAMES.get(task.status.state, "unknown")
        if task.status.HasField("message"):
            self.status_text = _message_text(task.status.message)
        if task.artifacts:
            self.artifacts = {artifact.artifact_id: artifact for artifact in task.artifacts}

    async def take(self, event: StreamResponse, on_progress: ProgressCallback | None) -> None:
        kind = event.WhichOneof("payload")
        if kind == "task":
            self.take_task(event.task)
        elif kind == "message":
            self.context_id = event.message.context_id or self.context_id
            self.state, self.status_text = "completed", _message_text(event.message)
        elif kind == "status_update":
            update = event.status_update
            self.task_id = update.task_id or self.task_id
            self.state = STATE_NAMES.get(update.status.state, "unknown")
            if update.status.HasField("message"):
                self.status_text = _message_text(update.status.message)
                if not self.final and on_progress is not None and self.status_text:
                    await on_progress(self.status_text[:500])
        elif kind == "artifact_update":
            artifact = event.artifact_update.artifact
            known = self.artifacts.get(artifact.artifact_id)
            if known is not None and event.artifact_update.append:
                known.parts.extend(artifact.parts)
            else:
                self.artifacts[artifact.artifact_id] = artifact


def _artifact_json(artifact: Artifact) -> dict[str, Any]:
    """An artifact as JSON: its id, name and parts (text, data, URL; raw bytes by size only)."""
    parts: list[dict[str, Any]] = []
    for part in artifact.parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            parts.append({"text": part.text})
        elif kind == "url":
            parts.append({"url": part.url, "media_type": part.media_type})
        elif kind == "raw":
            parts.append(
                {"raw_bytes": len(part.raw), "media_type": part.media_type, "filename": part.filename}
            )
        elif kind == "data":
            parts.append({"data": _value_json(part.data)})
    return {"artifact_id": artifact.artifact_id, "name": artifact.name, "parts": parts}


def _value_json(value: Any) -> Any:
    """A protobuf `Value` as plain JSON."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {key: _value_json(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_value_json(item) for item in value.list_value.values]
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)


def _message_text(message: Message) -> str:
    return "\n".join(part.text for part in message.parts if part.text)


def _pending_key(agent: ExternalAgent, context_id: str) -> str:
    return f"registry:a2a-pending:{agent.pk}:{context_id}"


async def a2a_call(
    agent: ExternalAgent,
    task: str,
    *,
    context_id: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> AgentCallResult:
    """Send `task` as one message and follow its task to a final or interrupted state. Never raises for
    the agent's failures (ok=False with the reason); cancellation sends `CancelTask` and propagates."""
    started = time.perf_counter()
    timeout_seconds = float(agent.timeout_seconds)
    outcome = A2AOutcome(context_id=context_id or "")
    try:
        async with _http(agent, timeout_seconds) as http, asyncio.timeout(timeout_seconds):
            card = await a2a_card(agent, http)
            await _send(agent, card, http, task, outcome, on_progress)
    except TimeoutError:
        error = f"The A2A agent '{agent.name}' did not finish within {timeout_seconds:g}s"
        error += f" (its task was {outcome.state} and has been cancelled)." if outcome.task_id else "."
        return AgentCallResult(
            False, None, elapsed_ms(started), outcome.response(agent) if outcome.task_id else None, error
        )
    except A2AAgentError as exc:
        if context_id:
            # A task the agent no longer knows must not make every later message of the thread fail.
            await shared_cache().adelete(_pending_key(agent, context_id))
        return AgentCallResult(False, exc.http_status, elapsed_ms(started), None, exc.message)
    except DomainError as exc:
        return AgentCallResult(False, None, elapsed_ms(started), None, exc.message)
    if context_id:
        await _remember_pending(agent, context_id, outcome)
    response = outcome.response(agent)
    if outcome.state == "completed" or outcome.state in INTERRUPTED_STATES:
        return AgentCallResult(True, 200, elapsed_ms(started), response)
    error = f"The A2A agent's task ended {outcome.state}" + (
        f": {response['text'][:500]}" if response["text"] else "."
    )
    return AgentCallResult(False, 200, elapsed_ms(started), response, error)


async def _remember_pending(agent: ExternalAgent, context_id: str, outcome: A2AOutcome) -> None:
    """A task waiting for the user is continued by the thread's next message to this agent."""
    key = _pending_key(agent, context_id)
    if outcome.state in INTERRUPTED_STATES and outcome.task_id:
        await shared_cache().aset(key, outcome.task_id, PENDING_TASK_SECONDS)
    else:
        await shared_cache().adelete(key)


async def _send(
    agent: ExternalAgent,
    card: AgentCard,
    http: httpx.AsyncClient,
    task: str,
    outcome: A2AOutcome,
    on_progress: ProgressCallback | None,
) -> None:
    streaming = bool(card.capabilities.streaming)
    client = ClientFactory(
        ClientConfig(streaming=streaming, polling=not streaming, httpx_client=http)
    ).create(card)
    pending = (
        await shared_cache().aget(_pending_key(agent, outcome.context_id)) if outcome.context_id else None
    )
    message = Message(
        message_id=str(uuid.uuid4()),
        context_id=outcome.context_id,
        task_id=pending or "",
        role=Role.ROLE_USER,
        parts=[Part(text=task)],
    )
    try:
        async for event in client.send_message(SendMessageRequest(message=message)):
            await outcome.take(event, on_progress)
        delay = POLL_FIRST_SECONDS
        while not streaming and outcome.task_id and not outcome.final:
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)
            before = outcome.status_text
            outcome.take_task(await client.get_task(GetTaskRequest(id=outcome.task_id)))
            if on_progress is not None and not outcome.final and outcome.status_text != before:
                await on_progress(outcome.status_text[:500])
        if not outcome.final:
            raise A2AAgentError(
                f"The A2A agent '{agent.name}' stopped answering while its task was {outcome.state}.",
                status_code=200,
            )
    except asyncio.CancelledError:
        if outcome.task_id and not outcome.final:
            await _cancel_task(agent, client, outcome)
        raise
    except A2AError as exc:  # the client's own errors, and the JSON-RPC errors the agent answered
        raise _call_failure(agent, exc) from None


async def _cancel_task(agent: ExternalAgent, client: Client, outcome: A2AOutcome) -> None:
    """`CancelTask` for a task still working, within its own short bound, whatever cancelled the call."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT_SECONDS):
            task = await asyncio.shield(client.cancel_task(CancelTaskRequest(id=outcome.task_id)))
        outcome.take_task(task)
    except (A2AError, TimeoutError, DomainError) as exc:
        logger.warning("CancelTask to A2A agent %s failed: %s", agent.name, type(exc).__name__)


def _call_failure(agent: ExternalAgent, exc: A2AError) -> A2AAgentError:
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPStatusError):
        code = cause.response.status_code
        hint = " (check the token)" if code in (401, 403) else ""
        return A2AAgentError(f"The A2A agent '{agent.name}' answered HTTP {code}{hint}.", status_code=code)
    if isinstance(cause, httpx.ConnectError):
        return A2AAgentError(
            f"Cannot connect to the A2A agent '{agent.name}': {connection_failure_reason(cause)}."
        )
    if isinstance(cause, httpx.TimeoutException):
        return A2AAgentError(f"The A2A agent '{agent.name}' did not answer in time.")
    message = _scrubbed(agent, str(exc))[:300]
    return A2AAgentError(f"The A2A agent '{agent.name}' answered an error: {message}", status_code=200)
