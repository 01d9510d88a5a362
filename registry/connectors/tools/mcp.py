"""The `mcp` tool: a remote Model Context Protocol server, spoken to with the official `mcp` SDK over
streamable HTTP (or the legacy SSE transport), every request through the egress guard.

A server's tool list is cached (`MCP_TOOLS_CACHE_SECONDS`; refreshed by a probe and by any edit of the
registry entry). Each allowed server tool becomes one function of the run's catalogue; a server tool whose
input schema is unusable is skipped with a logged reason. `allowed_tools` is enforced on every call.
Secrets (`auth_token`, every header value) go only into the requests, and are scrubbed from anything the
server sends back.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx2
import jsonschema
from django.conf import settings
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    AudioContent,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    Implementation,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from orchestrator_studio import __version__
from orchestrator_studio.cache import shared_cache
from orchestrator_studio.egress import egress_check
from orchestrator_studio.errors import DomainError
from orchestrator_studio.http import connection_failure_reason, guarded_async_client_httpx2, origin_of
from registry.connectors.scrub import scrub
from registry.connectors.tools.errors import ToolError
from registry.models import Tool

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str], Awaitable[None]]

TRANSPORT_SSE = "sse"
DEFAULT_TIMEOUT_SECONDS = 30.0
# Listing tools happens while a run starts: it answers quickly or the server offers nothing this time.
LIST_TIMEOUT_SECONDS = 10.0
# A server that could not be listed is not asked again by every run for this long (a probe asks at once).
FAILED_LISTING_SECONDS = 30
MAX_TEXT_CHARS = 64 * 1024
MAX_PAGES = 20
CLIENT_INFO = Implementation(name="orchestrator-studio", version=__version__)


@dataclass(frozen=True)
class ServerTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ServerListing:
    """What `tools/list` said: the server's name and version, its usable tools and the skipped ones."""

    server: dict[str, str]
    tools: list[ServerTool]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServerListing":
        return cls(
            server=data["server"],
            tools=[ServerTool(**tool) for tool in data["tools"]],
            skipped=data.get("skipped", []),
        )


def allowed_tool_names(tool: Tool) -> set[str] | None:
    """The server tools an admin allowed, or None for all of them."""
    allowed = (tool.config or {}).get("allowed_tools")
    return set(allowed) if allowed else None


def is_allowed(tool: Tool, server_tool: str) -> bool:
    allowed = allowed_tool_names(tool)
    return allowed is None or server_tool in allowed


def needs_approval(tool: Tool, server_tool: str) -> bool:
    """Whether a person must approve each call of this server tool: the whole server needs it, or the
    admin named the tool in `approval_tools`."""
    return tool.requires_approval or server_tool in ((tool.config or {}).get("approval_tools") or ())


def _timeout(tool: Tool) -> float:
    value = (tool.config or {}).get("timeout")
    return float(value) if isinstance(value, int | float) else DEFAULT_TIMEOUT_SECONDS


def _headers(config: dict[str, Any]) -> dict[str, str]:
    configured = config.get("headers")
    headers = {str(k): str(v) for k, v in configured.items()} if isinstance(configured, dict) else {}
    if config.get("auth_token") and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {config['auth_token']}"
    return headers


def _secrets(tool: Tool) -> list[Any]:
    return list((tool.secret_config or {}).values())


class _ErrorStatus:
    """Remembers the last HTTP error status the server answered, to say why a session failed."""

    def __init__(self) -> None:
        self.code: int | None = None

    async def record(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.code = response.status_code


@asynccontextmanager
async def _connected(tool: Tool, timeout_seconds: float) -> AsyncIterator[Client]:
    """An MCP session with the tool's server (initialised), its failures turned into `ToolError`s."""
    config = tool.full_config
    url = config["url"]
    await egress_check(url)  # refused before anything is sent
    status = _ErrorStatus()

    def http_client(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        # The SDK's own headers and timeout give way to the tool's: its secrets, its timeout.
        client = guarded_async_client_httpx2(timeout=timeout_seconds, headers=_headers(config))
        client.event_hooks = {"request": [], "response": [status.record]}
        return client

    try:
        if config.get("transport") == TRANSPORT_SSE:
            transport = sse_client(url, timeout=timeout_seconds, httpx_client_factory=http_client)
            async with Client(
                transport, client_info=CLIENT_INFO, read_timeout_seconds=timeout_seconds
            ) as client:
                yield client
        else:
            async with (
                http_client() as http,
                Client(
                    streamable_http_client(url, http_client=http),
                    client_info=CLIENT_INFO,
                    read_timeout_seconds=timeout_seconds,
                ) as client,
            ):
                yield client
    except ToolError:
        raise
    except Exception as exc:
        raise _failure(tool, url, exc, status.code, timeout_seconds) from None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _failure(tool: Tool, url: str, exc: Exception, status: int | None, timeout_seconds: float) -> ToolError:
    """A sentence saying why talking to the server failed, without any secret."""
    where = origin_of(url)
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, ToolError):
            return leaf
        if isinstance(leaf, DomainError):  # the egress guard, on a hop the SDK made
            return ToolError(leaf.message)
    if status in (401, 403):
        return ToolError(f"The MCP server at {where} refused the credentials (HTTP {status}).")
    if status is not None:
        return ToolError(f"The MCP server at {where} answered HTTP {status}.")
    for leaf in leaves:
        if isinstance(leaf, httpx2.ConnectError):
            return ToolError(
                f"Cannot connect to the MCP server at {where}: {connection_failure_reason(leaf)}."
            )
        if isinstance(leaf, httpx2.TimeoutException | TimeoutError):
            return ToolError(f"The MCP server at {where} did not answer within {timeout_seconds:g}s.")
        if isinstance(leaf, MCPError):
            message = scrub(leaf.error.message, _secrets(tool))[:300]
            return ToolError(f"The MCP server at {where} answered an error: {message}")
    logger.warning("MCP session with %s failed: %r", where, leaves[0])
    return ToolError(f"Talking to the MCP server at {where} failed ({type(leaves[0]).__name__}).")


# --- listing ---------------------------------------------------------------------------------------


def _cache_key(tool: Tool) -> str:
    """Changes with any edit of the entry (its `updated_at`), so an edit lists the tools afresh."""
    identity = json.dumps(
        [tool.pk, tool.name, tool.config, str(tool.updated_at)], sort_keys=True, default=str
    )
    return "registry:mcp-tools:" + hashlib.sha256(identity.encode()).hexdigest()


def _usable_schema(schema: Any) -> str | None:
    """Why `schema` cannot be offered as a function's parameters, or None when it can."""
    if not isinstance(schema, dict):
        return "its input schema is not a JSON object"
    if schema.get("type") != "object":
        return 'its input schema does not describe an object ("type": "object")'
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"its input schema is not valid JSON Schema ({exc.message[:200]})"
    return None


async def _fetch_listing(tool: Tool, timeout_seconds: float) -> ServerListing:
    tools: list[ServerTool] = []
    skipped: list[dict[str, str]] = []
    async with asyncio.timeout(timeout_seconds), _connected(tool, timeout_seconds) as client:
        info = client.server_info
        server = {"name": info.name if info else "", "version": info.version if info else ""}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            for listed in page.tools:
                reason = _usable_schema(listed.input_schema)
                if reason:
                    logger.warning("MCP tool %r of %s skipped: %s.", listed.name, tool.name, reason)
                    skipped.append({"name": listed.name, "reason": reason})
                    continue
                tools.append(ServerTool(listed.name, listed.description or "", dict(listed.input_schema)))
            cursor = page.next_cursor
            if not cursor:
                break
    return ServerListing(server=server, tools=tools, skipped=skipped)


async def mcp_tools_list(tool: Tool, *, refresh: bool = False) -> ServerListing:
    """The server's tools, from the cache unless `refresh`; `ToolError` when the server cannot be listed."""
    key = _cache_key(tool)
    cache = shared_cache()
    if not refresh:
        cached = await cache.aget(key)
        if isinstance(cached, dict) and "error" in cached:
            raise ToolError(cached["error"])
        if isinstance(cached, dict):
            return ServerListing.from_dict(cached)
    try:
        listing = await _fetch_listing(tool, min(_timeout(tool), LIST_TIMEOUT_SECONDS))
    except TimeoutError:
        error = f"The MCP server of '{tool.name}' did not list its tools within {LIST_TIMEOUT_SECONDS:g}s."
        await cache.aset(key, {"error": error}, FAILED_LISTING_SECONDS)
        raise ToolError(error) from None
    except DomainError as exc:
        await cache.aset(key, {"error": exc.message}, FAILED_LISTING_SECONDS)
        raise ToolError(exc.message) from None
    await cache.aset(key, listing.as_dict(), settings.MCP_TOOLS_CACHE_SECONDS)
    return listing


def mcp_tools_cached(tool: Tool) -> ServerListing | None:
    """The cached listing, if any (what the admin shows after a connection test)."""
    cached = shared_cache().get(_cache_key(tool))
    return ServerListing.from_dict(cached) if isinstance(cached, dict) and "tools" in cached else None


async def mcp_offered_tools(tool: Tool) -> list[ServerTool]:
    """The allowed server tools a run offers; none (logged) when the server cannot be listed."""
    try:
        listing = await mcp_tools_list(tool)
    except ToolError as exc:
        logger.warning("The MCP tool %s offers no functions now: %s", tool.name, exc.message)
        return []
    return [server_tool for server_tool in listing.tools if is_allowed(tool, server_tool.name)]


# --- calls -----------------------------------------------------------------------------------------


async def mcp_tool_call(
    tool: Tool,
    server_tool: str,
    arguments: dict[str, Any],
    *,
    on_progress: ProgressCallback | None = None,
) -> Any:
    """Call one server tool; its output (text), or `ToolError` (refused, failed, timed out, `isError`)."""
    if not is_allowed(tool, server_tool):
        raise ToolError(f"The MCP tool '{server_tool}' is not among the allowed tools of '{tool.name}'.")
    timeout_seconds = _timeout(tool)

    async def report(progress: float, total: float | None, message: str | None) -> None:
        if on_progress is not None:
            text = message or (f"{progress:g} of {total:g}" if total else f"{progress:g}")
            await on_progress(scrub(text, _secrets(tool))[:500])

    try:
        async with asyncio.timeout(timeout_seconds), _connected(tool, timeout_seconds) as client:
            result = await client.call_tool(
                server_tool, arguments, read_timeout_seconds=timeout_seconds, progress_callback=report
            )
    except TimeoutError:
        raise ToolError(
            f"The MCP tool '{server_tool}' of '{tool.name}' did not answer within {timeout_seconds:g}s."
        ) from None
    output = scrub(result_text(result), _secrets(tool))
    if result.is_error:
        raise ToolError(f"The MCP tool '{server_tool}' reported an error: {output[:2000]}")
    return output


def result_text(result: CallToolResult) -> str:
    """Text parts joined; images, audio and resources described by type and size; the structured content
    as JSON unless a text part already carries it."""
    texts: list[str] = []
    for part in result.content:
        if isinstance(part, TextContent):
            texts.append(part.text)
        elif isinstance(part, ImageContent | AudioContent):
            texts.append(f"[{part.type} {part.mime_type}, {_decoded_size(part.data)} bytes]")
        elif isinstance(part, EmbeddedResource):
            resource = part.resource
            if isinstance(resource, TextResourceContents):
                texts.append(f"[resource {resource.uri}]\n{resource.text}")
            else:
                kind = f" {resource.mime_type}" if resource.mime_type else ""
                texts.append(f"[resource {resource.uri}{kind}, {_decoded_size(resource.blob)} bytes]")
        elif isinstance(part, ResourceLink):
            texts.append(f"[resource link {part.uri}]")
    structured = result.structured_content
    if structured is not None and not _carried(structured, texts):
        texts.append(json.dumps(structured, ensure_ascii=False, default=str))
    text = "\n".join(texts)
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "\n[... cut short]"


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data.count("=", -2)


def _carried(structured: dict[str, Any], texts: list[str]) -> bool:
    """Whether the text parts already say what the structured content says (servers send both)."""
    if len(structured) == 1 and list(structured.values()) == ["\n".join(texts)]:
        return True
    for text in texts:
        try:
            if json.loads(text) == structured:
                return True
        except ValueError:
            continue
    return False


# --- the tool module interface (`registry.connectors.tools`) ---------------------------------------------


async def call(tool: Tool, arguments: dict[str, Any]) -> Any:
    """`POST /api/tools/{name}/test` with `{"tool", "arguments"}`: call that server tool."""
    name = arguments.get("tool")
    if not isinstance(name, str) or not name:
        raise ToolError('Name the server tool to call: {"tool": "<name>", "arguments": {...}}.')
    tool_arguments = arguments.get("arguments") or {}
    if not isinstance(tool_arguments, dict):
        raise ToolError("arguments must be a JSON object.")
    return await mcp_tool_call(tool, name, tool_arguments)


async def probe(tool: Tool) -> Any:
    """Connect, initialise and list the tools afresh: `{"server", "tools": [...], "skipped"?}`."""
    listing = await mcp_tools_list(tool, refresh=True)
    result: dict[str, Any] = {
        "server": listing.server,
        "tools": [
            {
                "name": server_tool.name,
                "description": server_tool.description,
                "input_schema": server_tool.input_schema,
                "allowed": is_allowed(tool, server_tool.name),
            }
            for server_tool in listing.tools
        ],
    }
    if listing.skipped:
        result["skipped"] = listing.skipped
    return result
