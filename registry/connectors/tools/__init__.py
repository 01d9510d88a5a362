"""Tools by type: each module exposes `call(tool, arguments)` (its output, or a `ToolError`) and
`probe(tool)` (what a connection test shows). This package dispatches and times them."""

import asyncio
import logging
import time
from types import ModuleType
from typing import Any

from asgiref.sync import sync_to_async

from orchestrator_studio.errors import DomainError
from orchestrator_studio.timing import elapsed_ms
from registry.connectors.results import ProbeResult
from registry.connectors.tools import code_executor, composio_tool, http, mcp, web_search
from registry.connectors.tools.errors import ToolError
from registry.models import Tool
from registry.tool_types import TOOL_TYPES, ToolType

__all__ = ["ToolError", "mcp_servers_health", "tool_call", "tool_probe", "tool_test", "tool_timeout"]

logger = logging.getLogger(__name__)
# A call may take the tool's own timeout plus this, for the work around the request itself.
TIMEOUT_GRACE_SECONDS = 2.0

_MODULES: dict[str, ModuleType] = {
    ToolType.HTTP: http,
    ToolType.WEB_SEARCH: web_search,
    ToolType.CODE_EXECUTOR: code_executor,
    ToolType.COMPOSIO: composio_tool,
    ToolType.MCP: mcp,
}


def _module(tool: Tool) -> ModuleType:
    module = _MODULES.get(tool.type)
    if module is None:
        raise ToolError(f"Tool '{tool.name}' has an unknown type {tool.type!r}.")
    return module


def tool_timeout(tool: Tool) -> float:
    """How long one call of `tool` may take, from its config or its type's default."""
    config = tool.config or {}
    key = "timeout_seconds" if tool.type == ToolType.CODE_EXECUTOR else "timeout"
    if isinstance(config.get(key), int | float):
        return float(config[key])
    spec = TOOL_TYPES.get(tool.type)
    default = spec.config_schema["properties"].get(key, {}).get("default", 30) if spec else 30
    return float(default)


async def tool_call(tool: Tool, arguments: dict[str, Any]) -> Any:
    """Run `tool` with `arguments`; its output, or a `DomainError` whose message says what went wrong."""
    return await _module(tool).call(tool, arguments)


async def tool_probe(tool: Tool) -> ProbeResult:
    """A connection test of `tool`; never raises for the outside world's failures."""
    started = time.perf_counter()
    try:
        result = await _module(tool).probe(tool)
    except DomainError as exc:
        return ProbeResult(ok=False, latency_ms=elapsed_ms(started), error=exc.message)
    return ProbeResult(ok=True, latency_ms=elapsed_ms(started), detail={"result": result})


async def tool_test(tool: Tool, arguments: dict[str, Any] | None) -> dict[str, Any]:
    """What `POST /api/tools/{name}/test` answers: a call with `arguments` (already checked against the
    tool's parameters), or a probe without them. `{"ok", "latency_ms", "result"|"error"}`."""
    if arguments is None:
        return (await tool_probe(tool)).as_dict()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(tool_timeout(tool) + TIMEOUT_GRACE_SECONDS):
            result = await tool_call(tool, arguments)
    except TimeoutError:
        error = f"The tool '{tool.name}' did not answer within {tool_timeout(tool):g}s."
    except DomainError as exc:
        error = exc.message
    except Exception as exc:
        logger.exception("Testing tool %r failed unexpectedly", tool.name)
        error = f"The tool '{tool.name}' failed unexpectedly ({type(exc).__name__})."
    else:
        return {"ok": True, "latency_ms": elapsed_ms(started), "result": result}
    return {"ok": False, "latency_ms": elapsed_ms(started), "error": error}


def _enabled_mcp_servers() -> list[Tool]:
    return list(Tool.objects.filter(enabled=True, type=ToolType.MCP).order_by("name"))


async def mcp_servers_health() -> dict[str, Any]:
    """Every enabled MCP tool server probed concurrently (connect, initialise, list its tools):
    `{"total", "healthy", "tools": [{"name", "ok", "latency_ms", "error"?}]}`."""
    servers = await sync_to_async(_enabled_mcp_servers)()
    results = await asyncio.gather(*(tool_probe(server) for server in servers))
    rows = []
    for server, result in zip(servers, results, strict=True):
        row: dict[str, Any] = {"name": server.name, "ok": result.ok, "latency_ms": result.latency_ms}
        if result.error is not None:
            row["error"] = result.error
        rows.append(row)
    return {"total": len(rows), "healthy": sum(1 for row in rows if row["ok"]), "tools": rows}
