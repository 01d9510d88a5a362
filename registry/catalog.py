"""The function catalogue: what a run offers the LLM now, and the way back from a function name to a call.

Every enabled tool, agent and datasource is one OpenAI function. Its name is `<kind>__<resource name>`
(`agent__billing`); a name too long for OpenAI's 64 characters gets a one-letter upper-case prefix
instead (`A_<name>`), which no full-form name can collide with because resource names are lower case.
An `mcp` tool is one function per allowed server tool, `<tool name>__<server tool>`; the names an `mcp`
tool may take (`tool_types.function_prefix_problem`) keep those apart from every other function.
"""

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from orchestrator_studio.cache import shared_cache
from orchestrator_studio.errors import DomainError
from orchestrator_studio.timing import elapsed_ms
from registry import tool_types
from registry.connectors import a2a, agents, tools
from registry.connectors.arguments import argument_errors
from registry.connectors.results import CallResult
from registry.connectors.tools import mcp
from registry.models import (
    AgentProtocol,
    DataSource,
    DataSourceType,
    ExternalAgent,
    RegistryEntry,
    Tool,
    default_agent_input_schema,
)

logger = logging.getLogger(__name__)

_NOT_IN_FUNCTION_NAME = re.compile(r"[^a-zA-Z0-9_-]")
# What a long-running call says while it works (`tool_call.progress`); called with one line of text.
ProgressCallback = Callable[[str], Awaitable[None]]
MAX_FUNCTION_NAME = 64
# A call may take its resource's own timeout plus this, for the work around the request itself.
TIMEOUT_GRACE_SECONDS = 2.0

DATASOURCE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string"}},
    "required": ["query"],
}
_DATASOURCE_QUERY_HINTS: dict[str, str] = {
    DataSourceType.POSTGRES: "Pass one read-only SQL query (PostgreSQL dialect) as `query`.",
    DataSourceType.CUBEJS: "Pass a Cube.js query object, as a JSON string, as `query`.",
    DataSourceType.HTTP: "Pass the query in the datasource's own language as `query`.",
}


@dataclass(frozen=True)
class FunctionSpec:
    function_name: str
    kind: str  # "tool" | "agent" | "datasource"
    resource_name: str
    description: str
    parameters: dict[str, Any]
    timeout_seconds: float
    # The function inside the resource, for resources that offer several (an MCP server's tool name).
    target: str | None = None
    # A person approves or rejects each call before it runs (API.md "Human approval").
    requires_approval: bool = False


@dataclass(frozen=True)
class Catalog:
    functions: dict[str, FunctionSpec]
    # The registry rows the catalogue was built from, so a run calls what it offered even if edited later.
    resources: Mapping[str, RegistryEntry] = field(default_factory=dict, repr=False, compare=False)

    def openai_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": spec.function_name,
                    "description": spec.description,
                    "parameters": spec.parameters,
                },
            }
            for spec in self.functions.values()
        ]

    def without_approval(self) -> "Catalog":
        """The functions that run without a person's decision: what a door with nobody to ask offers."""
        functions = {name: spec for name, spec in self.functions.items() if not spec.requires_approval}
        resources = {name: entry for name, entry in self.resources.items() if name in functions}
        return Catalog(functions=functions, resources=resources)


def function_name_for(kind: str, resource_name: str) -> str:
    full = f"{kind}__{resource_name}"
    if len(full) <= MAX_FUNCTION_NAME:
        return full
    initial = kind[0].upper()
    short = f"{initial}_{resource_name}"
    return short if len(short) <= MAX_FUNCTION_NAME else f"{initial}{resource_name}"


def mcp_function_name(tool_name: str, server_tool: str) -> str:
    """`<tool name>__<server tool>`, sanitised to OpenAI's `^[a-zA-Z0-9_-]{1,64}$`; a name cut short ends
    in a hash of the whole one, so two long names stay apart."""
    full = _NOT_IN_FUNCTION_NAME.sub("_", f"{tool_name}__{server_tool}")
    if len(full) <= MAX_FUNCTION_NAME:
        return full
    digest = hashlib.sha256(f"{tool_name}__{server_tool}".encode()).hexdigest()[:8]
    return f"{full[: MAX_FUNCTION_NAME - 9]}_{digest}"


# The enabled registry rows, read once per registry version instead of three queries per run. They stay in
# this process's memory (they hold decrypted secrets, which must not go to a shared cache); only the version
# is shared (the Django cache: Redis across processes), and every registry write bumps it
# (`catalog_version_bump`, called by `registry.services`), so the next run of any process reads them afresh.
CATALOG_VERSION_KEY = "registry:catalog-version"
EnabledEntries = tuple[list[Tool], list[ExternalAgent], list[DataSource]]
_entries_cache: dict[str, tuple[str, EnabledEntries]] = {}
_entries_lock = threading.Lock()


def catalog_version_bump() -> None:
    """Mark the cached registry rows stale in every process: now (this transaction may never commit for
    others to see, as in a test) and again once it commits (a run in between may have read the old rows
    under the version set now)."""

    def bump() -> None:
        shared_cache().set(CATALOG_VERSION_KEY, uuid.uuid4().hex, None)

    bump()
    transaction.on_commit(bump)


def _catalog_version() -> str:
    version = shared_cache().get(CATALOG_VERSION_KEY)
    if version is None:
        # A cold or flushed cache: start a version that every process then shares.
        shared_cache().add(CATALOG_VERSION_KEY, uuid.uuid4().hex, None)
        version = shared_cache().get(CATALOG_VERSION_KEY) or ""
    return version


def catalog_entries() -> EnabledEntries:
    """The enabled registry rows a catalog is built from (sync: call it on a thread)."""
    # The version is read BEFORE the rows: a write that lands in between bumps it again, so rows read
    # under an old version are never kept under a new one.
    version = _catalog_version()
    # Inside a transaction the rows read may be its own uncommitted writes, which a rollback (no signal)
    # would leave behind in the cache: read them, but neither use nor keep the cache.
    cacheable = bool(version) and not connection.in_atomic_block
    with _entries_lock:
        cached = _entries_cache.get("default")
    if cacheable and cached is not None and cached[0] == version:
        return cached[1]
    entries = (
        list(Tool.objects.filter(enabled=True).order_by("name")),
        list(ExternalAgent.objects.filter(enabled=True).order_by("name")),
        list(DataSource.objects.filter(enabled=True).order_by("name")),
    )
    if cacheable:
        with _entries_lock:
            _entries_cache["default"] = (version, entries)
    return entries


def catalog_tables_rewritten(**kwargs: Any) -> None:
    """`migrate` and `flush` (a transactional test's teardown too) rewrite the registry's tables without
    going through the services: connected to the registry app's `post_migrate`."""
    catalog_version_bump()


async def catalog_build(entries: EnabledEntries | None = None) -> Catalog:
    """The functions a run would offer now: every enabled tool, agent and datasource (`entries`: the rows
    as `catalog_entries` read them, when the caller already read them on a thread of its own)."""
    if entries is None:
        entries = await sync_to_async(catalog_entries)()
    tool_rows, agent_rows, datasource_rows = entries
    functions: dict[str, FunctionSpec] = {}
    resources: dict[str, RegistryEntry] = {}

    def add(spec: FunctionSpec, entry: RegistryEntry) -> None:
        if spec.function_name in functions:
            logger.warning(
                "Function %s of %s '%s' is not offered: another entry already offers that name.",
                spec.function_name,
                spec.kind,
                spec.resource_name,
            )
            return
        functions[spec.function_name] = spec
        resources[spec.function_name] = entry

    mcp_rows = [tool for tool in tool_rows if tool.type == tool_types.ToolType.MCP]
    offered = await asyncio.gather(*(mcp.mcp_offered_tools(tool) for tool in mcp_rows))
    for tool, server_tools in zip(mcp_rows, offered, strict=True):
        for server_tool in server_tools:
            add(
                FunctionSpec(
                    function_name=mcp_function_name(tool.name, server_tool.name),
                    kind="tool",
                    resource_name=tool.name,
                    description=server_tool.description or f"The '{server_tool.name}' tool of {tool.name}.",
                    parameters=server_tool.input_schema,
                    timeout_seconds=tools.tool_timeout(tool),
                    target=server_tool.name,
                    requires_approval=mcp.needs_approval(tool, server_tool.name),
                ),
                tool,
            )
    for tool in tool_rows:
        if tool.type == tool_types.ToolType.MCP:
            continue
        add(
            FunctionSpec(
                function_name=function_name_for("tool", tool.name),
                kind="tool",
                resource_name=tool.name,
                description=tool.description or tool_types.TOOL_TYPES[tool.type].description,
                parameters=await _tool_parameters(tool),
                timeout_seconds=tools.tool_timeout(tool),
                requires_approval=tool.requires_approval,
            ),
            tool,
        )
    a2a_rows = [agent for agent in agent_rows if agent.protocol == AgentProtocol.A2A]
    a2a_descriptions = dict(
        zip(
            (agent.name for agent in a2a_rows),
            await asyncio.gather(*(a2a.a2a_function_description(agent) for agent in a2a_rows)),
            strict=True,
        )
    )
    for agent in agent_rows:
        if agent.name in a2a_descriptions:
            # An A2A agent takes one message: the task. Its card describes it when the registry does not.
            description = a2a_descriptions[agent.name]
            parameters = default_agent_input_schema()
        else:
            description = agent.description or f"Delegate a task to the external agent '{agent.name}'."
            parameters = agent.input_schema or default_agent_input_schema()
        add(
            FunctionSpec(
                function_name=function_name_for("agent", agent.name),
                kind="agent",
                resource_name=agent.name,
                description=description,
                parameters=parameters,
                timeout_seconds=float(agent.timeout_seconds),
                requires_approval=agent.requires_approval,
            ),
            agent,
        )
    for datasource in datasource_rows:
        hint = _DATASOURCE_QUERY_HINTS.get(datasource.type, "")
        description = datasource.description or f"Query the {datasource.get_type_display()} datasource."
        add(
            FunctionSpec(
                function_name=function_name_for("datasource", datasource.name),
                kind="datasource",
                resource_name=datasource.name,
                description=f"{description} {hint}".strip(),
                parameters=DATASOURCE_PARAMETERS,
                timeout_seconds=float(datasource.timeout_seconds),
                requires_approval=datasource.requires_approval,
            ),
            datasource,
        )
    return Catalog(functions=functions, resources=resources)


async def _tool_parameters(tool: Tool) -> dict[str, Any]:
    parameters = tool.parameters or tool_types.TOOL_TYPES[tool.type].default_parameters
    if tool.type != tool_types.ToolType.COMPOSIO or parameters.get("properties"):
        return parameters
    # A Composio tool registered without parameters offers the schema Composio publishes for its slug.
    from registry.connectors.composio import composio_default_parameters

    try:
        fetched = await composio_default_parameters(tool.full_config)
    except DomainError as exc:
        logger.warning("Composio parameters of tool %s unavailable: %s", tool.name, exc.message)
        return parameters
    return fetched if isinstance(fetched, dict) and fetched.get("type") == "object" else parameters


async def catalog_call(
    catalog: Catalog,
    function_name: str,
    arguments: dict[str, Any],
    *,
    context: dict[str, Any],
    on_progress: ProgressCallback | None = None,
) -> CallResult:
    """Call the resource behind `function_name`. Never raises for anything the outside world or the LLM
    did wrong: an unknown name, invalid arguments, a failure or a timeout is `ok=False` with the reason.
    `on_progress(text)` hears what a long call reports while it works (MCP progress, A2A status updates);
    the caller publishes it as `tool_call.progress`."""
    started = time.perf_counter()

    def failed(error: str, output: Any = None) -> CallResult:
        return CallResult(ok=False, output=output, latency_ms=elapsed_ms(started), error=error)

    spec = catalog.functions.get(function_name)
    if spec is None:
        return failed(f"Unknown function {function_name!r}.")
    errors = argument_errors(spec.parameters, arguments)
    if errors:
        return failed(f"Invalid arguments for {function_name}: " + "; ".join(errors))
    label = f"{spec.kind} '{spec.resource_name}'"
    try:
        async with asyncio.timeout(spec.timeout_seconds + TIMEOUT_GRACE_SECONDS):
            entry = catalog.resources.get(function_name)
            if entry is None:
                return failed(f"The {label} is no longer registered or enabled.")
            return await _dispatch(spec, entry, arguments, _json_safe_context(context), started, on_progress)
    except TimeoutError:
        return failed(f"The {label} did not answer within {spec.timeout_seconds:g}s.")
    except DomainError as exc:
        return failed(exc.message)
    except Exception as exc:
        logger.exception("Calling %s failed unexpectedly", label)
        return failed(f"The {label} failed unexpectedly ({type(exc).__name__}).")


async def _dispatch(
    spec: FunctionSpec,
    entry: RegistryEntry,
    arguments: dict[str, Any],
    context: dict[str, Any],
    started: float,
    on_progress: ProgressCallback | None,
) -> CallResult:
    if isinstance(entry, ExternalAgent) and entry.protocol == AgentProtocol.A2A:
        thread_id = context.get("thread_id")
        result = await a2a.a2a_call(
            entry,
            arguments["task"],
            context_id=a2a.a2a_context_id(str(thread_id)) if thread_id else None,
            on_progress=on_progress,
        )
        return CallResult(
            ok=result.ok, output=result.response, latency_ms=elapsed_ms(started), error=result.error
        )
    if isinstance(entry, ExternalAgent):
        task = arguments["task"] if "task" in arguments else json.dumps(arguments)
        payload = {"task": task, **arguments, "context": context}
        result = await agents.agent_call(entry, payload)
        return CallResult(
            ok=result.ok, output=result.response, latency_ms=elapsed_ms(started), error=result.error
        )
    if isinstance(entry, DataSource):
        from registry.connectors.datasources import datasource_query

        output = await datasource_query(entry, arguments["query"], arguments.get("parameters"))
        return CallResult(ok=True, output=output, latency_ms=elapsed_ms(started))
    if not isinstance(entry, Tool):
        raise TypeError(f"No connector for {type(entry).__name__}.")
    if spec.target is not None:
        output = await mcp.mcp_tool_call(entry, spec.target, arguments, on_progress=on_progress)
        return CallResult(ok=True, output=output, latency_ms=elapsed_ms(started))
    output = await tools.tool_call(entry, arguments)
    return CallResult(ok=True, output=output, latency_ms=elapsed_ms(started))


def _json_safe_context(context: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if value is None or isinstance(value, str | int | float | bool) else str(value)
        for key, value in context.items()
    }
