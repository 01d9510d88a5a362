"""External agents: HTTP services the orchestrator delegates tasks to.

A probe is `GET url+health_path`; a call is `POST url+endpoint` with the agent's Bearer token. Answers are
JSON when the agent says JSON, else text capped in size; an echoed token never comes back out. An agent of
protocol `a2a` is probed and called through `registry.connectors.a2a` instead.
"""

import asyncio
import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from orchestrator_studio.errors import DomainError, ValidationFailed
from orchestrator_studio.http import FetchedResponse, http_request
from orchestrator_studio.timing import elapsed_ms
from registry.connectors.a2a import a2a_call, a2a_probe
from registry.connectors.results import AgentCallResult, ProbeResult
from registry.connectors.scrub import scrub
from registry.models import AgentProtocol, ExternalAgent
from registry.validation import validate_relative_path

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 64 * 1024
# A health check answers quickly or the agent is not healthy, whatever its call timeout.
MAX_PROBE_SECONDS = 10.0


def _headers(agent: ExternalAgent) -> dict[str, str]:
    headers = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
    if agent.auth_token:
        headers["Authorization"] = f"Bearer {agent.auth_token}"
    return headers


def _url(agent: ExternalAgent, path: str) -> str:
    return agent.url.rstrip("/") + path


async def agent_probe(agent: ExternalAgent) -> ProbeResult:
    """`GET url+health_path`: ok on a 2xx answer within the agent's timeout (at most 10 s). An A2A agent:
    its card read and validated afresh."""
    if agent.protocol == AgentProtocol.A2A:
        return await a2a_probe(agent)
    started = time.perf_counter()
    try:
        response = await http_request(
            "GET",
            _url(agent, agent.health_path),
            timeout_seconds=min(float(agent.timeout_seconds), MAX_PROBE_SECONDS),
            headers=_headers(agent),
            max_response_bytes=64 * 1024,
        )
    except DomainError as exc:
        return ProbeResult(
            ok=False, latency_ms=elapsed_ms(started), error=exc.message, detail={"status_code": None}
        )
    error = None if response.ok else f"The health check answered HTTP {response.status_code}."
    return ProbeResult(
        ok=response.ok,
        latency_ms=response.elapsed_ms,
        error=error,
        detail={"status_code": response.status_code},
    )


def agent_endpoint(agent: ExternalAgent, endpoint: str | None) -> str:
    """The path a call goes to: the caller's `endpoint` if given (relative only), else the agent's."""
    if endpoint is None:
        return agent.endpoint
    try:
        validate_relative_path(endpoint)
    except ValidationError as exc:
        raise ValidationFailed("Invalid endpoint.", fields={"endpoint": exc.messages}) from exc
    return endpoint


async def agent_call(agent: ExternalAgent, payload: Any, *, endpoint: str | None = None) -> AgentCallResult:
    """`POST url+endpoint` with `payload` as JSON. Never raises for the agent's failures (ok=False with the
    reason); raises `ValidationFailed` for an `endpoint` that is not a relative path. An A2A agent is sent
    `payload["task"]` as one message; the response is its task."""
    if agent.protocol == AgentProtocol.A2A:
        return await _a2a_agent_call(agent, payload, endpoint)
    path = agent_endpoint(agent, endpoint)
    started = time.perf_counter()
    try:
        response = await http_request(
            "POST",
            _url(agent, path),
            timeout_seconds=float(agent.timeout_seconds),
            headers=_headers(agent),
            json_body=payload,
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
    except DomainError as exc:
        return AgentCallResult(
            ok=False, status_code=None, latency_ms=elapsed_ms(started), response=None, error=exc.message
        )
    body, body_error = _answer(agent, response)
    error = body_error
    if not response.ok:
        error = f"The agent '{agent.name}' answered HTTP {response.status_code}."
    return AgentCallResult(
        ok=error is None,
        status_code=response.status_code,
        latency_ms=response.elapsed_ms,
        response=body,
        error=error,
    )


async def _a2a_agent_call(agent: ExternalAgent, payload: Any, endpoint: str | None) -> AgentCallResult:
    if endpoint is not None:
        raise ValidationFailed(
            "Invalid endpoint.", fields={"endpoint": ["An A2A agent is called at its card's interface."]}
        )
    task = payload.get("task") if isinstance(payload, dict) else None
    if not isinstance(task, str) or not task.strip():
        raise ValidationFailed("Invalid input.", fields={"task": ['An A2A agent takes {"task": str}.']})
    return await a2a_call(agent, task)


def _answer(agent: ExternalAgent, response: FetchedResponse) -> tuple[Any, str | None]:
    """(the answer as JSON or capped text, a problem with it or None)."""
    text = scrub(response.text, [agent.auth_token])
    if response.is_json and not response.truncated:
        try:
            return json.loads(text) if text.strip() else None, None
        except ValueError:
            return _capped(text), f"The agent '{agent.name}' answered malformed JSON."
    if response.truncated:
        return _capped(
            text
        ), f"The agent's answer was larger than {MAX_RESPONSE_BYTES // 1024} KiB; cut short."
    return _capped(text), None


def _capped(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "\n[... cut short]"


def _enabled_agents() -> list[ExternalAgent]:
    return list(ExternalAgent.objects.filter(enabled=True).order_by("name"))


async def agents_health() -> dict[str, Any]:
    """Every enabled agent probed concurrently: `{"total", "healthy", "agents": [...]}`."""
    enabled = await sync_to_async(_enabled_agents)()
    results = await asyncio.gather(*(agent_probe(agent) for agent in enabled))
    rows = []
    for agent, result in zip(enabled, results, strict=True):
        row: dict[str, Any] = {"name": agent.name, "ok": result.ok, "latency_ms": result.latency_ms}
        if result.error is not None:
            row["error"] = result.error
        rows.append(row)
    return {"total": len(rows), "healthy": sum(1 for r in rows if r["ok"]), "agents": rows}
